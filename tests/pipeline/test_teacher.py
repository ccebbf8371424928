"""pipeline.teacher: TRILLsson or any audio embedder from TF-Hub, its cache folder or a local
SavedModel; clear messages when it is out of reach; a clip it fails on is dropped."""

import hashlib
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub

from helpers import DEAD_PROXY, tone_clip, write_wav
from pipeline import teacher
from pipeline.cache import EmbeddingCache


@pytest.fixture
def offline(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, DEAD_PROXY)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)


def test_stand_in_has_trillsson_interface_through_tf_hub(stand_in_teacher):
    m = hub.load(stand_in_teacher)
    sig = m.__call__.input_signature[0]
    assert sig.dtype.name == "float32" and sig.shape.as_list() == [None, None]
    out = m(np.stack([tone_clip(300), tone_clip(2000)]))
    assert set(out) == {"embedding"} and out["embedding"].shape == (2, 64)
    t = teacher.load(stand_in_teacher)
    assert t.dim == 64  # read from the model
    e = t(np.stack([tone_clip(300, seed=1), tone_clip(300, seed=2), tone_clip(2500, seed=3)]))
    assert np.linalg.norm(e[0] - e[1]) < np.linalg.norm(e[0] - e[2])


def test_unreachable_teacher_gives_one_clear_message(tmp_path):
    with pytest.raises(teacher.TeacherUnavailable) as e:
        teacher.load("http://127.0.0.1:9/no-such-model")
    msg = str(e.value)
    assert "127.0.0.1:9" in msg and "TFHUB_CACHE_DIR" in msg and "Traceback" not in msg
    with pytest.raises(teacher.TeacherUnavailable, match="neither a known name"):
        teacher.load(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(teacher.TeacherUnavailable, match="holds no SavedModel"):
        teacher.preflight(str(tmp_path / "empty"))


def test_short_names_resolve_to_tfhub_handles():
    assert teacher.resolve("trillsson3") == "https://tfhub.dev/google/trillsson3/1"
    assert teacher.resolve("/some/folder") == "/some/folder"


def test_trillsson_loads_offline_from_tfhub_cache_dir(stand_in_teacher, tmp_path, monkeypatch, offline):
    """tensorflow_hub's layout: $TFHUB_CACHE_DIR/<sha1 of the handle URL>/ holds the SavedModel."""
    url = "https://tfhub.dev/google/trillsson3/1"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub"))
    with pytest.raises(teacher.TeacherUnavailable) as e:  # nothing cached, no network
        teacher.load("trillsson3")
    folder = str(tmp_path / "hub" / hashlib.sha1(url.encode()).hexdigest())
    assert folder in str(e.value) and "Traceback" not in str(e.value)
    assert teacher.hub_cache_folder("trillsson3") == folder
    shutil.copytree(stand_in_teacher, folder)
    assert teacher.preflight("trillsson3") == folder
    t = teacher.load("trillsson3")
    assert t.handle == url and t.identity == url and t.dim == 64
    assert t(np.stack([tone_clip(300)])).shape == (1, 64)


class _Embedder(tf.Module):
    """Another audio embedder: a dict with two outputs, or a plain tensor."""

    def __init__(self, dim, plain=False):
        super().__init__()
        self.w = tf.Variable(np.random.default_rng(0).standard_normal((400, dim)).astype(np.float32))
        self.plain = plain

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def __call__(self, audio):
        frames = tf.signal.frame(audio, 400, 200)  # [b, t, 400]
        emb = tf.reduce_mean(tf.abs(tf.einsum("btf,fd->btd", frames, self.w)), 1)
        return emb if self.plain else {"pooled": emb, "frames": tf.einsum("btf,fd->btd", frames, self.w)}


class _InputSpy(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def __call__(self, audio):
        stats = tf.stack(
            [
                tf.reduce_min(audio, 1),
                tf.reduce_max(audio, 1),
                tf.cast(tf.shape(audio)[1], tf.float32) + 0 * audio[:, 0],
            ],
            1,
        )
        return {"embedding": stats}


def test_teacher_gets_float32_batches_in_minus_one_to_one(tmp_path):
    tf.saved_model.save(_InputSpy(), str(tmp_path / "spy"))
    t = teacher.load(str(tmp_path / "spy"))
    loud = (np.stack([tone_clip(300), tone_clip(500)]) * 40000).astype(np.int32)  # not float, not in range
    stats = t(loud)
    assert stats.shape == (2, 3) and stats[:, 0].min() >= -1 and stats[:, 1].max() <= 1
    assert np.all(stats[:, 2] == 8000)


def test_other_embedders_output_key_plain_tensor_and_size_from_model(tmp_path):
    tf.saved_model.save(_Embedder(48), str(tmp_path / "dict"))
    tf.saved_model.save(_Embedder(24, plain=True), str(tmp_path / "plain"))
    x = np.stack([tone_clip(300), tone_clip(900)])
    with pytest.raises(teacher.TeacherUnavailable, match=r"outputs \['frames', 'pooled'\], not 'embedding'"):
        teacher.load(str(tmp_path / "dict"))
    t = teacher.load(str(tmp_path / "dict"), "pooled")
    assert t.dim == 48 and t(x).shape == (2, 48)
    frames = teacher.load(str(tmp_path / "dict"), "frames")  # [b, frames, d] → mean over frames
    assert frames.dim == 48 and frames(x).shape == (2, 48)
    plain = teacher.load(str(tmp_path / "plain"))
    assert plain.dim == 24 and plain(x).shape == (2, 24) and plain.calls == 1


def test_local_identity_follows_the_model_content(tmp_path):
    calib = np.stack([tone_clip(f, seed=i) for i, f in enumerate((300, 900, 2000))])
    teacher.build_stand_in(str(tmp_path / "t"), calib, embedding_dim=16, seed=0)
    a = teacher.Teacher(str(tmp_path / "t")).identity
    teacher.build_stand_in(str(tmp_path / "u"), calib, embedding_dim=16, seed=0)
    assert teacher.Teacher(str(tmp_path / "u")).identity.split("@")[1] == a.split("@")[1]  # same content
    shutil.rmtree(tmp_path / "t")
    teacher.build_stand_in(str(tmp_path / "t"), calib, embedding_dim=16, seed=1)  # retrained in place
    assert teacher.Teacher(str(tmp_path / "t")).identity != a


def test_a_clip_the_teacher_fails_on_is_dropped_not_fatal(stand_in_teacher, tmp_path):
    t = teacher.load(stand_in_teacher)
    run = t._run

    def fails_on_loud_clips(x):
        if np.max(np.abs(x)) > 0.9:
            raise tf.errors.InvalidArgumentError(None, None, "kernel failed")
        return run(x)

    t._run = fails_on_loud_clips
    audio = np.stack([tone_clip(300, seed=i) for i in range(5)])
    audio[3] *= 2.4
    paths = [write_wav(tmp_path / f"c{i}.wav", audio[i]) for i in range(5)]
    cache = EmbeddingCache(tmp_path / "cache")
    keys = [cache.key("t", p, {}) for p in paths]
    failures = []
    emb, hits, computed = teacher.embed(t, audio, keys, cache, batch_size=4, failures=failures)
    assert [i for i, _ in failures] == [3] and "kernel failed" in failures[0][1]
    assert np.isnan(emb[3]).all() and np.isfinite(np.delete(emb, 3, 0)).all()
    with pytest.raises(tf.errors.InvalidArgumentError):  # without a failures list: strict
        teacher.embed(t, audio, keys, EmbeddingCache(tmp_path / "cache2"), batch_size=4)
