"""Helpers the tests share: synthetic clips and WAV files the tests make themselves, tiny
students, and the paths and constants several test files use.

```python
from helpers import tone_clip, write_wav
write_wav(tmp_path / "a.wav", tone_clip(440.0, seconds=0.5))
```

The tests/ folder is on `sys.path` (tests/conftest.py puts it there), so `from helpers import …`
works from every sub-folder. Fixtures live in the conftest.py files, not here.
"""

import contextlib
import os
import threading
import wave

import numpy as np
import tensorflow as tf

from models import students
from models.frontend import SAMPLE_RATE
from pipeline import distill

SR = SAMPLE_RATE
TESTS = os.path.dirname(os.path.abspath(__file__))  # the tests/ folder
ROOT = os.path.dirname(TESTS)  # the repository
CLIP = 4000  # samples in a clip of the tiny test students (0.25 s)
DEAD_PROXY = "http://127.0.0.1:9"  # every download fails fast, as on a machine without network


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


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def tone_batch(embedding_dim, clip_samples=CLIP):
    """8 tone clips of 3 classes, their labels and a random teacher embedding per class: (x, y, t)."""
    freqs = [300, 900, 2500, 300, 900, 2500, 300, 900]
    x = np.stack([tone_clip(f, seconds=clip_samples / 16000, seed=i) for i, f in enumerate(freqs)])
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    t = np.random.default_rng(0).standard_normal((3, embedding_dim)).astype(np.float32)[y]
    return x, y, t


def small(family, exits=2, **kw):
    """A tiny student of `family` for `tone_batch(24)`: 3 classes, 24-dim embeddings, width 8, depth 2."""
    return students.build(
        family, num_classes=3, embedding_dim=24, exits=exits, clip_samples=CLIP, **{"width": 8, "depth": 2, **kw}
    )


def distill_losses(m, x, t, training=False):
    """The distillation objective at every exit of `m` (mean squared error to the scaled targets)."""
    out = m(x, training=training)
    return [
        float(tf.reduce_mean(tf.square(out[f"exit{k}_embedding"] - t / distill.target_scale(t))))
        for k in range(1, len(students.exit_names(m)) + 1)
    ]


@contextlib.contextmanager
def fails_instead_of_hanging_on(fifos, seconds=20):
    """A watchdog: if anything still blocks opening one of `fifos` for reading after `seconds`,
    open its write end (which releases the reader), so the test fails instead of hanging.
    Yields a list of the FIFOs it had to release."""
    released, done = [], threading.Event()

    def watch():
        if not done.wait(seconds):
            for p in fifos:
                try:
                    os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))  # succeeds only with a reader waiting
                    released.append(str(p))
                except OSError:
                    pass

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        yield released
    finally:
        done.set()
        t.join()
