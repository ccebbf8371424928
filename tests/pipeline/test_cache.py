"""pipeline.cache: the on-disk cache of teacher embeddings — keys, hits, corrupt shards, and a run
killed mid-write."""

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, tone_clip, write_wav
from pipeline import teacher
from pipeline.cache import EmbeddingCache


def test_cache_runs_teacher_once_per_clip_and_recomputes_corrupt_shards(stand_in_teacher, tmp_path):
    t = teacher.load(stand_in_teacher)
    paths = [write_wav(tmp_path / f"c{i}.wav", tone_clip(200 + 300 * i, seed=i)) for i in range(5)]
    audio = np.stack([tone_clip(200 + 300 * i, seed=i) for i in range(5)])
    cache = EmbeddingCache(tmp_path / "cache")
    keys = [cache.key(stand_in_teacher, p, {"clip_samples": 8000}) for p in paths]
    first, hits, computed = teacher.embed(t, audio, keys, cache, batch_size=2)
    assert (hits, computed, t.calls) == (0, 5, 3)

    again = EmbeddingCache(tmp_path / "cache")  # a new process would see the same files
    second, hits, computed = teacher.embed(t, audio, keys, again, batch_size=2)
    assert (hits, computed, t.calls) == (5, 0, 3)
    np.testing.assert_allclose(first, second)

    shard = sorted(f for f in os.listdir(tmp_path / "cache") if f.endswith(".npz"))[0]
    with open(tmp_path / "cache" / shard, "r+b") as f:
        f.seek(40)
        f.write(b"\x00garbage\x00")
    with pytest.warns(UserWarning, match="corrupt cache shard"):
        third, hits, computed = teacher.embed(t, audio, keys, EmbeddingCache(tmp_path / "cache"), batch_size=2)
    assert computed in (1, 2) and hits == 5 - computed and t.calls == 4
    np.testing.assert_allclose(first, third, atol=1e-5)


KILLED_RUN = r"""
import os, signal, sys
import numpy as np
import pipeline
from pipeline import teacher
from pipeline.cache import EmbeddingCache
model, cache_dir, audio_file, keys_file = sys.argv[1:5]
t = teacher.load(model)
run = t._run
def dies_on_third_batch(x):
    if t.calls == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # as if the machine went down mid-run
    return run(x)
t._run = dies_on_third_batch
keys = open(keys_file).read().split()
teacher.embed(t, np.load(audio_file), keys, EmbeddingCache(cache_dir), batch_size=2)
"""


@pytest.mark.slow
def test_killed_run_resumes_where_it_stopped(stand_in_teacher, tmp_path):
    paths = [write_wav(tmp_path / f"c{i}.wav", tone_clip(200 + 150 * i, seed=i)) for i in range(7)]
    audio = np.stack([tone_clip(200 + 150 * i, seed=i) for i in range(7)])
    np.save(tmp_path / "audio.npy", audio)
    keys = [EmbeddingCache.key(stand_in_teacher, p, {"clip_samples": 8000}) for p in paths]
    (tmp_path / "keys.txt").write_text("\n".join(keys))
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_RUN,
            stand_in_teacher,
            str(tmp_path / "cache"),
            str(tmp_path / "audio.npy"),
            str(tmp_path / "keys.txt"),
        ],
        cwd=ROOT,
        capture_output=True,
    )
    assert p.returncode == -9  # SIGKILL: no clean-up ran
    cache = EmbeddingCache(tmp_path / "cache")
    assert len(cache.lookup(keys)) == 4  # the two batches finished before the kill are kept
    # a kill between writing a shard and listing it, and one in the middle of writing a shard
    (tmp_path / "cache" / "shard-deadbeef.npz.tmp-0123").write_bytes(b"PK\x03\x04 torn")
    t = teacher.load(stand_in_teacher)
    emb, hits, computed = teacher.embed(t, audio, keys, cache, batch_size=2)
    assert (hits, computed, t.calls) == (4, 3, 2)
    fresh = teacher.load(stand_in_teacher)(audio)
    np.testing.assert_allclose(emb, fresh, atol=1e-4)
    # the listed manifest is what a later run sees; an unlisted complete shard is adopted
    manifest = tmp_path / "cache" / "manifest.json"
    listed = manifest.read_text()
    os.remove(manifest)
    later = EmbeddingCache(tmp_path / "cache")
    assert len(later.lookup(keys)) == 7 and len(later.adopted) == 4 and listed


def test_cache_key_changes_with_file_and_params(tmp_path):
    p = write_wav(tmp_path / "a.wav", tone_clip(300))
    k1 = EmbeddingCache.key("h", p, {"clip_samples": 16000})
    assert k1 != EmbeddingCache.key("h", p, {"clip_samples": 8000})
    assert k1 != EmbeddingCache.key("other", p, {"clip_samples": 16000})
    write_wav(tmp_path / "a.wav", tone_clip(310))
    os.utime(p, ns=(1, 1))
    assert k1 != EmbeddingCache.key("h", p, {"clip_samples": 16000})
