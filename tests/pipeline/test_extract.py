"""Teacher extraction over shards (pipeline.extract): in this process and on Apache Beam's
DirectRunner with two worker processes, against the in-memory path; reruns and resumes."""

import json
import os
import shutil

import numpy as np
import pytest

from export.layout import Layout
from pipeline import config, corpus, extract, shards, targets


def _cfg(task_dir, out, *extra):
    return config.from_argv(["--data", task_dir, "--clip-seconds", "0.5", "--out", str(out), "--quiet", *extra])


def _in_memory(task_dir, teacher, out):
    cfg = _cfg(task_dir, out, "--teacher", teacher)
    c = corpus.load_corpus(cfg.data, seed=0)
    return targets.teacher_targets(c, cfg, Layout(out))


def test_an_interrupted_extraction_resumes_and_a_rerun_embeds_nothing(task_dir, stand_in_teacher, tmp_path):
    ss = shards.write(_cfg(task_dir, tmp_path).data, tmp_path / "shards", shard_clips=5)
    tdir, info = extract.extract(ss, stand_in_teacher, cache_dir=str(tmp_path / "cache"), batch_size=4)
    assert info["clips_embedded"] == 24 and info["shards_embedded"] == len(ss.names) == 6
    assert info["teacher_calls"] == sum(-(-ss.meta(n)["clips"] // 4) for n in ss.names)

    _, again = extract.extract(ss, stand_in_teacher, cache_dir=str(tmp_path / "cache"))
    assert again["clips_embedded"] == again["teacher_calls"] == again["shards_embedded"] == 0
    assert again["cache_hits"] == 24

    # a kill after one shard's embeddings but before its sidecar: that shard alone is redone
    os.remove(os.path.join(tdir, "train-00002.tfrecord.json"))
    shutil.rmtree(tmp_path / "cache")
    _, resumed = extract.extract(ss, stand_in_teacher, cache_dir=str(tmp_path / "cache"))
    assert resumed["shards_embedded"] == 1 and resumed["clips_embedded"] == ss.meta("train-00002.tfrecord")["clips"]

    # the cache is shared with the in-memory path: same keys, so that path calls no teacher either
    cfg = _cfg(task_dir, tmp_path / "mem", "--teacher", stand_in_teacher, "--teacher-cache", str(tmp_path / "cache"))
    _, goal = targets.teacher_targets(corpus.load_corpus(cfg.data), cfg, Layout(tmp_path / "mem"))
    assert goal.info["cache_hits"] == 5 and goal.info["clips_embedded"] == 19  # only that shard's clips cached


@pytest.mark.slow
def test_beam_direct_runner_gives_the_in_process_embeddings(task_dir, stand_in_teacher, tmp_path):
    pytest.importorskip("apache_beam")
    _, goal = _in_memory(task_dir, stand_in_teacher, tmp_path / "mem")
    opts = "--runner DirectRunner --direct_num_workers 2 --direct_running_mode multi_processing"
    data = _cfg(task_dir, tmp_path).data
    ss = shards.write(data, tmp_path / "shards", shard_clips=4, decoder=extract.decoder("beam", opts))
    here = shards.write(data, tmp_path / "here", shard_clips=4)  # decoded in this process
    assert ss.names == here.names and ss.counts() == here.counts()
    for n in ss.names:  # the audio files were decoded by the runner's workers, into the same shards
        assert ss.meta(n)["sha256"] == here.meta(n)["sha256"]
        assert json.load(open(ss.path(n) + ".json"))["pid"] != os.getpid()
    tdir, info = extract.extract(
        ss, stand_in_teacher, cache_dir=str(tmp_path / "cache"), runner="beam", beam_options=opts
    )
    assert info["runner"] == "beam" and info["clips_embedded"] == 24 and info["shards_embedded"] == len(ss.names) == 7
    pids = {side["pid"] for side in ss.target_sidecars(tdir).values()}
    assert os.getpid() not in pids  # embedded by the runner's worker processes, not here
    c = ss.corpus(tdir, noise=False)
    train, train_emb = c.train.load()
    assert train.ids == tuple(corpus.load_corpus(_cfg(task_dir, tmp_path).data).train.ids)
    np.testing.assert_allclose(train_emb, goal.train, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c.test_targets, goal.test, rtol=1e-5, atol=1e-5)

    _, again = extract.extract(
        ss, stand_in_teacher, cache_dir=str(tmp_path / "cache"), runner="beam", beam_options=opts
    )
    assert again["clips_embedded"] == again["teacher_calls"] == again["shards_embedded"] == 0


@pytest.mark.slow
def test_the_run_imports_apache_beam_only_when_asked():
    """`python pipeline/run.py` (the demo) needs no extra: only `--extract beam` imports apache_beam."""
    import subprocess
    import sys

    code = (
        "import sys; import pipeline.run, pipeline.extract, pipeline.workers, pipeline.shards; "
        "assert 'apache_beam' not in sys.modules, 'imported'"
    )
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_USE_LEGACY_KERAS": "1"},
    )
    assert p.returncode == 0, p.stderr[-2000:]
