"""Fixtures shared by the tests of several folders: a tiny labelled task, a stand-in teacher and a
tiny exported early-exit model, all made here, once per session.

The test files sit in folders that mirror the library (tests/models/, tests/export/,
tests/pipeline/, tests/pipeline/tools/); plain shared functions are in tests/helpers.py.
"""

import os
import sys

import numpy as np
import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:  # `from helpers import …` in every folder, whatever the import mode
    sys.path.insert(0, TESTS)

import pipeline  # noqa: E402,F401  (selects Keras 2 before TensorFlow is imported)
from helpers import CLIP, tone_clip, write_wav  # noqa: E402


@pytest.fixture(scope="session")
def task_dir(tmp_path_factory):
    """A tiny labelled task in the train/test layout: 3 labels, tones of different pitch."""
    root = tmp_path_factory.mktemp("task")
    for split, n in (("train", 6), ("test", 2)):
        for i, (label, f) in enumerate((("low", 300.0), ("mid", 900.0), ("high", 2500.0))):
            for j in range(n):
                seed = (split == "test") * 1000 + i * 100 + j  # not hash(): randomised per process
                write_wav(root / split / label / f"c{j}.wav", tone_clip(f, seed=seed))
    return str(root)


@pytest.fixture(scope="session")
def stand_in_teacher(tmp_path_factory):
    """A SavedModel with TRILLsson's interface, made by the test."""
    from pipeline import teacher

    rng = np.random.default_rng(0)
    calib = np.stack([tone_clip(f, seed=i) for i, f in enumerate(rng.uniform(200, 3000, 8))])
    return teacher.build_stand_in(str(tmp_path_factory.mktemp("teacher") / "model"), calib, embedding_dim=64)


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """A tiny 3-exit student, exported for devices (LCE model, exits, stages, portable files,
    labels.txt, thresholds.json): (model, out folder, ExportedFiles, the clips it saw).

    Converting takes a while, so the tests that use it are marked slow.
    """
    from export import convert
    from export.layout import Layout
    from models import students
    from pipeline import calibrate

    out = str(tmp_path_factory.mktemp("deploy"))
    m = students.build("quicknet", num_classes=3, embedding_dim=16, exits=3, clip_samples=CLIP, width=16)
    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate([300, 900, 2500] * 4)])
    m(x, training=True)
    files = convert.export_all(m, out, progress=lambda s: None)
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("low\nmid\nhigh\n")
    th = {"within_1pct": {"threshold": 0.4, "accuracy": 1.0, "mean_latency_ms": 1.0, "description": "t"}}
    calibrate.write_thresholds(Layout(out), th, 3, CLIP)
    from export import manifest  # sealed as a run seals it: the runtime and the benchmark check it

    manifest.write(Layout(out), files.all() + [os.path.join(out, "labels.txt"), Layout(out).thresholds], model="test")
    return m, out, files, x
