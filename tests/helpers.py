"""Helpers the tests share: synthetic clips and WAV files the tests make themselves.

```python
from helpers import tone_clip, write_wav
write_wav(tmp_path / "a.wav", tone_clip(440.0, seconds=0.5))
```
"""
import os
import wave

import numpy as np

from models.frontend import SAMPLE_RATE

SR = SAMPLE_RATE


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
