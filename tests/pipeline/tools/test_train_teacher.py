"""`brillsson train-teacher`: a trained stand-in teacher with TRILLsson's interface."""

import contextlib
import io
import json
import os

import numpy as np
import pytest
import tensorflow_hub as hub

from pipeline import cli, teacher
from pipeline.errors import DataError
from pipeline.tools import train_teacher
from helpers import tone_clip, write_wav

TINY = ["--steps", "6", "--batch-size", "8", "--log-every", "3", "--widths", "8,16", "--hidden", "64"]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    """Two tiny task folders: pitch (train/test layout) and 'voice' (flat layout, split by speaker)."""
    root = tmp_path_factory.mktemp("tasks")
    for split, n in (("train", 4), ("test", 2)):
        for label, f in (("low", 300.0), ("high", 2000.0)):
            for j in range(n):
                write_wav(root / "pitch" / split / label / f"{j}.wav", tone_clip(f, seconds=0.5, seed=j))
    rng = np.random.default_rng(0)
    for label, colour in (("hiss", 0.0), ("rumble", 0.97)):
        for spk in range(4):
            x = rng.normal(0, 0.1, 12000)
            for i in range(1, len(x)):
                x[i] += colour * x[i - 1]
            write_wav(root / "voice" / label / f"s{spk}_nohash_0.wav", 0.3 * x / np.abs(x).max())
    return [str(root / "pitch"), str(root / "voice")]


@pytest.fixture(scope="module")
def trained(tasks, tmp_path_factory):
    """`brillsson train-teacher …`, run in this process to spare a TensorFlow start-up."""
    out = str(tmp_path_factory.mktemp("trained") / "teacher")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cli.call(["train-teacher", "--data", tasks[0], "--data", tasks[1], "--out", out, *TINY])
    return out, buf.getvalue()


@pytest.mark.slow
def test_cli_trains_and_writes_trillsson_interface(trained):
    out, printed = trained
    assert "step 3/6" in printed and "step 6/6" in printed and "ETA" in printed  # progress
    assert "linear probe, test accuracy on pitch" in printed
    m = hub.load(out)
    sig = m.__call__.input_signature[0]
    assert sig.dtype.name == "float32" and sig.shape.as_list() == [None, None]
    for samples in (300, 8000, 27000):  # any length, even shorter than one STFT frame
        y = m(np.zeros((2, samples), np.float32) + 0.01)
        assert set(y) == {"embedding"} and y["embedding"].shape == (2, 1024)
    info = json.loads(open(os.path.join(out, "teacher.json")).read())
    assert set(info["probe_accuracy"]) == {"pitch", "voice"}
    assert all(0.0 <= a <= 1.0 for a in info["probe_accuracy"].values())
    assert info["tasks"]["voice"]["labels"] == ["hiss", "rumble"] and info["params"] > 60_000
    t = teacher.load(out)  # usable as --teacher TEACHER_DIR
    assert t.dim == 1024 and t(np.stack([tone_clip(300), tone_clip(2000)])).shape == (2, 1024)


@pytest.mark.slow
def test_training_is_seeded(tasks, trained, tmp_path):
    out, _ = trained
    info = cli.call(["train-teacher", "--data", tasks[0], "--data", tasks[1], "--out", str(tmp_path / "again"), *TINY])
    x = np.stack([tone_clip(300), tone_clip(2000), tone_clip(900)])
    np.testing.assert_allclose(teacher.load(out)(x), teacher.load(str(tmp_path / "again"))(x), rtol=1e-3, atol=1e-3)
    assert info["probe_accuracy"] == json.loads(open(os.path.join(out, "teacher.json")).read())["probe_accuracy"]


def test_default_network_has_millions_of_parameters():
    assert 5_000_000 < train_teacher.build_trunk().count_params() < 8_000_000


def test_a_task_needs_two_labels(tmp_path):
    write_wav(tmp_path / "one" / "only" / "a.wav", tone_clip(300))
    write_wav(tmp_path / "one" / "only" / "b.wav", tone_clip(310))
    with pytest.raises(DataError, match="single label"):
        train_teacher.train([str(tmp_path / "one")], str(tmp_path / "out"), steps=1)
