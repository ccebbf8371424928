import os

import numpy as np
import pytest
import tensorflow_hub as hub

from pipeline import teacher
from pipeline.cache import EmbeddingCache
from conftest import tone_clip, write_wav


def test_stand_in_has_trillsson_interface_through_tf_hub(stand_in_teacher):
    m = hub.load(stand_in_teacher)
    sig = m.__call__.input_signature[0]
    assert sig.dtype.name == "float32" and sig.shape.as_list() == [None, None]
    out = m(np.stack([tone_clip(300), tone_clip(2000)]))
    assert set(out) == {"embedding"} and out["embedding"].shape == (2, 64)
    t = teacher.load(stand_in_teacher)
    e = t(np.stack([tone_clip(300, seed=1), tone_clip(300, seed=2), tone_clip(2500, seed=3)]))
    assert np.linalg.norm(e[0] - e[1]) < np.linalg.norm(e[0] - e[2])


def test_unreachable_teacher_gives_one_clear_message(tmp_path):
    with pytest.raises(teacher.TeacherUnavailable) as e:
        teacher.load("http://127.0.0.1:9/no-such-model")
    msg = str(e.value)
    assert "127.0.0.1:9" in msg and "TFHUB_CACHE_DIR" in msg and "Traceback" not in msg
    with pytest.raises(teacher.TeacherUnavailable, match="neither a known name"):
        teacher.load(str(tmp_path / "missing"))


def test_short_names_resolve_to_tfhub_handles():
    assert teacher.resolve("trillsson3") == "https://tfhub.dev/google/trillsson3/1"
    assert teacher.resolve("/some/folder") == "/some/folder"


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
    assert computed == 2 and hits == 3 and t.calls == 4
    np.testing.assert_allclose(first, third, atol=1e-5)


def test_cache_key_changes_with_file_and_params(tmp_path):
    p = write_wav(tmp_path / "a.wav", tone_clip(300))
    k1 = EmbeddingCache.key("h", p, {"clip_samples": 16000})
    assert k1 != EmbeddingCache.key("h", p, {"clip_samples": 8000})
    assert k1 != EmbeddingCache.key("other", p, {"clip_samples": 16000})
    write_wav(tmp_path / "a.wav", tone_clip(310))
    os.utime(p, ns=(1, 1))
    assert k1 != EmbeddingCache.key("h", p, {"clip_samples": 16000})
