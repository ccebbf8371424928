"""Fixtures shared by the tests: a tiny labelled task and a stand-in teacher, both made here."""
import numpy as np
import pytest

import pipeline  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
from helpers import tone_clip, write_wav


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
