"""Audio I/O: any file tensorflow-io reads → float32 mono clips at 16 kHz in [-1, 1].

```python
from pipeline import audio
x = audio.load("clip.flac")                  # np.float32 [samples], 16 kHz mono
x = audio.fit_length(x, 16000)              # pad or centre-crop to one second
```
Every failure is an `AudioError` naming the file and the reason, so a caller can
skip the clip and list it instead of stopping a long run: missing, unreadable or empty
files, formats tensorflow-io cannot decode, NaN/Inf samples and digital silence
(all-zero samples; pass `allow_silent=True` where silence is the content, e.g. a
`_silence_` label).
"""
import os
import re
import threading

import numpy as np
import tensorflow as tf
import tensorflow_io as tfio

from models.frontend import SAMPLE_RATE
from pipeline.errors import DataError

EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


# tensorflow-io's AudioIOTensor is not thread safe (tensorflow/io#1764): two files decoded at
# once can swap state and abort the process ("int16 expected, got float"). Decoding is
# serialised; the rest of `load` (checks, mixing, resampling) runs in parallel.
_DECODE_LOCK = threading.Lock()


class AudioError(DataError, ValueError):
    """A clip that cannot be used: `path` and `reason` say which and why."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


def _to_float(x):
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32768.0
    if x.dtype == np.int32:
        return x.astype(np.float32) / 2147483648.0
    if x.dtype == np.uint8:
        return (x.astype(np.float32) - 128.0) / 128.0
    return x.astype(np.float32)


def _reason(e):
    """tensorflow-io's error text without TensorFlow's op decorations."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    msg = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", msg)
    msg = re.sub(r"\s*\[Op:[^\]]*\].*$", "", msg)
    return msg.strip()[:200] or type(e).__name__


def load(path, sample_rate=SAMPLE_RATE, allow_silent=False):
    """Decode `path` with tensorflow-io, mix to mono and resample to `sample_rate`.

    Returns float32 samples in [-1, 1]; raises `AudioError` for anything unusable.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise AudioError(path, "no such file (or a broken link)")
    if not os.access(path, os.R_OK):
        raise AudioError(path, "file is not readable")
    if os.path.getsize(path) == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    try:
        with _DECODE_LOCK:
            io = tfio.audio.AudioIOTensor(path)
            rate = int(io.rate.numpy())
            x = io.to_tensor().numpy()
    except Exception as e:  # tensorflow-io raises several error types for bad files
        raise AudioError(path, f"cannot decode audio ({_reason(e)})") from None
    if x.size == 0 or rate <= 0:
        raise AudioError(path, "no audio samples in file")
    x = _to_float(x)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if not np.all(np.isfinite(x)):
        raise AudioError(path, "audio holds NaN or Inf samples")
    if rate != sample_rate:
        try:
            x = tfio.audio.resample(tf.constant(x[:, None]), rate_in=rate, rate_out=sample_rate).numpy()[:, 0]
        except Exception as e:
            raise AudioError(path, f"cannot resample from {rate} Hz ({_reason(e)})") from None
        if x.size == 0:
            raise AudioError(path, f"too short to resample from {rate} Hz")
    if not allow_silent and not np.any(np.abs(x) > 1e-7):
        raise AudioError(path, "audio is all zeros (silent file)")
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def fit_length(x, n):
    """Zero-pad (centred) or centre-crop `x` to exactly `n` samples."""
    if len(x) >= n:
        start = (len(x) - n) // 2
        return x[start:start + n]
    out = np.zeros(n, np.float32)
    start = (n - len(x)) // 2
    out[start:start + len(x)] = x
    return out
