import os
import wave

import numpy as np
import pytest

import pipeline  # noqa: F401  (selects Keras 2 before TensorFlow is imported)

SR = 16000


def tone_clip(freq, seconds=0.5, seed=0, sr=SR):
    """A synthetic 'word': a tone with a little noise, different per class."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.4 * np.sin(2 * np.pi * freq * t * (1 + 0.1 * rng.standard_normal()))
    x += 0.02 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def write_wav(path, x, sr=SR, channels=1):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    if channels > 1:
        pcm = np.repeat(pcm[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return str(path)


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
