"""The corpus on disk (pipeline.shards): written once and atomically, resumed, checked; streamed
batches equal the in-memory path's; a streamed training equals an in-memory one on a tiny task."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from export import clips
from export.layout import Layout
from pipeline import augment, config, corpus, datasets, distill, extract, shards, student, targets


def _cfg(task_dir, out, *extra):
    return config.from_argv(["--data", task_dir, "--clip-seconds", "0.5", "--out", str(out), "--quiet", *extra])


def _fake_targets(ss, dim=8, seed=0):
    """Embeddings for every shard (random, as a teacher would give): the targets folder."""
    tdir = ss.targets_dir("test")
    rng = np.random.default_rng(seed)
    for n in ss.names:
        clips = shards.read_clips(ss.path(n))
        shards.write_targets(
            tdir, n, ss.meta(n)["sha256"], clips["id"], rng.standard_normal((len(clips["id"]), dim)).astype(np.float32)
        )
    return tdir


def test_shards_hold_the_decoded_clips_and_a_rerun_writes_nothing(task_dir, tmp_path):
    cfg = _cfg(task_dir, tmp_path, "--shard-clips", "5")
    ss = shards.write(cfg.data, tmp_path / "shards", seed=0, shard_clips=5)
    assert ss.counts() == {"train": 18, "test": 6} and len(ss.shards("train")) == 4
    mem = corpus.load_corpus(cfg.data, seed=0)
    got = [shards.read_clips(ss.path(n)) for n in ss.shards("train")]
    audio = np.concatenate([g["audio"] for g in got])
    np.testing.assert_array_equal(audio, mem.train.audio)  # 16-bit sources: int16 on disk loses nothing
    assert [i for g in got for i in g["id"]] == list(mem.train.ids)
    assert [lab for g in got for lab in g["label"]] == list(mem.train.labels)
    assert got[0]["fingerprint"][0] == datasets.fingerprint(mem.train.ids[0])

    before = {n: os.path.getmtime(ss.path(n)) for n in ss.names}
    again = shards.write(cfg.data, tmp_path / "shards", seed=0, shard_clips=5)
    assert {n: os.path.getmtime(again.path(n)) for n in again.names} == before

    with open(ss.path("train-00001.tfrecord"), "r+b") as f:  # a torn shard is rewritten, the others kept
        f.truncate(100)
    third = shards.write(cfg.data, tmp_path / "shards", seed=0, shard_clips=5)
    third.verify()
    changed = [n for n in third.names if os.path.getmtime(third.path(n)) != before[n]]
    assert changed == ["train-00001.tfrecord"]


def test_targets_with_other_ids_or_a_bad_checksum_are_not_trusted(task_dir, tmp_path):
    cfg = _cfg(task_dir, tmp_path)
    ss = shards.write(cfg.data, tmp_path / "shards", seed=0, shard_clips=10)
    tdir = _fake_targets(ss)
    assert set(ss.target_sidecars(tdir)) == set(ss.names)
    side = os.path.join(tdir, "train-00000.tfrecord.json")
    meta = json.load(open(side))
    json.dump({**meta, "sha256": "0" * 64}, open(side, "w"))
    assert "train-00000.tfrecord" not in ss.target_sidecars(tdir)
    with pytest.raises(shards.ShardError, match="no teacher embeddings for 1 shards"):
        ss.corpus(tdir)


@pytest.mark.parametrize("augmented", [False, True])
def test_streamed_batches_equal_the_in_memory_batches(task_dir, tmp_path, augmented):
    cfg = _cfg(task_dir, tmp_path)
    ss = shards.write(cfg.data, tmp_path / "shards", seed=0, shard_clips=4)
    c = ss.corpus(_fake_targets(ss), noise=False)
    split, emb = c.train.load()
    fn = (lambda: augment.waveform(seed=3)) if augmented else (lambda: None)
    tf.config.experimental.enable_op_determinism()
    train_i, _ = distill.holdout(len(split), 0.25, seed=1)
    mem = distill._dataset(
        split.audio[train_i], {"e": emb[train_i] / 2.0, "y": split.labels[train_i]}, 4, seed=1, augment=fn()
    )
    streamed, val, n = c.train.datasets(lambda e, y: {"e": e / 2.0, "y": y}, 4, seed=1, val_fraction=0.25, augment=fn())
    assert n == len(train_i) and val is not None
    for epoch in range(2):  # reshuffled each epoch, alike
        for (xa, ya), (xb, yb) in zip(mem, streamed, strict=True):
            np.testing.assert_array_equal(xa.numpy(), xb.numpy())
            np.testing.assert_array_equal(ya["e"].numpy(), yb["e"].numpy())
            np.testing.assert_array_equal(ya["y"].numpy(), yb["y"].numpy())


def test_a_large_stream_interleaves_shards_and_still_sees_every_clip_once(task_dir, tmp_path):
    cfg = _cfg(task_dir, tmp_path)
    ss = shards.write(cfg.data, tmp_path / "shards", seed=0, shard_clips=3)
    c = ss.corpus(_fake_targets(ss), noise=False, shuffle_buffer=4)  # smaller than the stream: interleaved
    ds, _, n = c.train.datasets(lambda e, y: y, 5, seed=0)
    first = [x.numpy() for x, _ in ds]
    assert sum(len(x) for x in first) == n == 18
    mem = corpus.load_corpus(cfg.data).train.audio
    got = np.concatenate(first)
    assert sorted(map(bytes, got)) == sorted(map(bytes, mem))  # each clip once
    assert not np.array_equal(got, mem)  # not in file order


def test_calibration_fraction_holds_out_the_same_clips_as_in_memory(task_dir, tmp_path):
    cfg = _cfg(task_dir, tmp_path, "--calibration-fraction", "0.34")
    ss = shards.write(cfg.data, tmp_path / "shards", seed=0, shard_clips=4)
    c = ss.corpus(_fake_targets(ss), fraction=0.34, seed=0, noise=False)
    mem = corpus.load_corpus(cfg.data).with_validation(0.34, seed=0)
    assert c.validation.ids == mem.validation.ids and len(c.train) == len(mem.train)
    np.testing.assert_array_equal(np.concatenate(list(c.validation.batches(2))), mem.validation.audio)
    np.testing.assert_array_equal(c.validation.labels, mem.validation.labels)


def test_test_split_is_read_from_disk_and_scores_as_the_in_memory_split(task_dir, tmp_path):
    cfg = _cfg(task_dir, tmp_path)
    ss = shards.write(cfg.data, tmp_path / "shards", seed=0, shard_clips=4)
    tdir = _fake_targets(ss)
    c = ss.corpus(tdir, noise=False)
    mem = corpus.load_corpus(cfg.data, seed=0).test
    assert isinstance(c.test, shards.StreamedSplit) and not hasattr(c.test, "audio")  # no array held
    assert c.test.ids == mem.ids and len(c.test) == len(mem) == 6 and c.test.clip_samples == mem.clip_samples
    np.testing.assert_array_equal(c.test.labels, mem.labels)
    for size in (1, 4, 64):  # batches cross shard boundaries (4 clips a shard) and end short
        got = list(c.test.batches(size))
        assert [len(b) for b in got] == [len(b) for b in mem.batches(size)]
        np.testing.assert_array_equal(np.concatenate(got), mem.audio)
    np.testing.assert_array_equal(c.test.head(2), mem.head(2))
    np.testing.assert_array_equal(clips.head(c.test, 1), mem.audio[:1])
    assert c.test_targets.shape == (6, 8)
    np.testing.assert_array_equal(c.test_targets, ss.corpus(tdir, noise=False).test.stream.load()[1])
    # a Keras model scores the streamed split as it scores the array
    inp = tf.keras.Input((mem.clip_samples,))
    model = tf.keras.Model(inp, {"m": tf.reduce_mean(inp, axis=1, keepdims=True)})
    np.testing.assert_allclose(
        clips.keras_predict(model, c.test, size=4)["m"], model.predict(mem.audio, verbose=0)["m"], rtol=1e-6, atol=1e-7
    )


@pytest.mark.slow
def test_streamed_training_equals_the_in_memory_training(task_dir, stand_in_teacher, tmp_path, monkeypatch):
    flags = [
        "--teacher",
        stand_in_teacher,
        "--epochs",
        "2",
        "--head-epochs",
        "2",
        "--fine-tune-epochs",
        "1",
        "--width",
        "8",
        "--depth",
        "1",
        "--batch-size",
        "8",
    ]
    cfg_m = _cfg(task_dir, tmp_path / "m", *flags)
    cfg_s = _cfg(task_dir, tmp_path / "s", *flags, "--data-format", "shards")
    c = corpus.load_corpus(cfg_m.data, seed=0)
    c, goal = targets.teacher_targets(c, cfg_m, Layout(tmp_path / "m"))
    a = student.train_student(c, goal, cfg_m, Layout(tmp_path / "m"))
    cs, goal_s = extract.streamed_targets(cfg_s, Layout(tmp_path / "s"))
    assert goal_s.info["clips_embedded"] == 24 and goal_s.info["extraction"]["runner"] == "process"
    np.testing.assert_allclose(goal_s.test, goal.test, rtol=1e-5, atol=1e-6)
    # the one number computed differently: the targets' RMS, summed shard by shard in float64 on the
    # stream, by NumPy in float32 in memory (about one float32 ulp apart); pinned to the in-memory value
    # so that the rest of the two paths must agree exactly
    scale = distill.target_scale(goal.distillation())
    assert cs.distillation().target_scale() == pytest.approx(scale, rel=1e-6)
    monkeypatch.setattr(shards.Stream, "target_scale", lambda self: scale)  # train only: one set of targets
    b = student.train_student(cs, goal_s, cfg_s, Layout(tmp_path / "s"))
    assert a.key != b.key  # different settings, different checkpoints
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_options_that_need_every_clip_in_memory_are_refused_with_shards(task_dir, tmp_path):
    for flag in (["--twin-teacher", "0.5"], ["--teacher-views", "2"]):
        with pytest.raises(config.ConfigError, match="need every clip in memory"):
            _cfg(task_dir, tmp_path, "--data-format", "shards", *flag)
    assert _cfg(task_dir, tmp_path, "--data-format", "shards").data.format == "shards"
