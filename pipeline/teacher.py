"""The teacher: TRILLsson (or any audio embedder) from TF-Hub or a local SavedModel.

```python
from pipeline import teacher
t = teacher.load("trillsson3")                 # TF-Hub handle, URL or local folder
emb = t(audio_batch)                           # np.float32 [batch, 1024]
```
When TRILLsson cannot be fetched (no network), `build_stand_in` writes a float
SavedModel with TRILLsson's exact interface (float32 audio [batch, samples] at 16 kHz
→ {"embedding": [batch, 1024]}) that is loaded back through tensorflow_hub the same way.
"""
import os
import time

import numpy as np

import pipeline  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
import tensorflow as tf
import tensorflow_hub as hub

from models.frontend import log_mel

TRILLSSON = {f"trillsson{i}": f"https://tfhub.dev/google/trillsson{i}/1" for i in range(1, 6)}


class TeacherUnavailable(RuntimeError):
    pass


def resolve(handle):
    """Short name → TF-Hub URL; URLs and local paths are returned unchanged."""
    return TRILLSSON.get(handle, handle)


class Teacher:
    """A loaded teacher: call it on a float32 numpy batch, get [batch, dim] embeddings."""

    def __init__(self, handle, output_key="embedding"):
        self.handle = resolve(handle)
        self.output_key = output_key
        is_local = os.path.exists(self.handle)
        if not is_local and not self.handle.startswith(("http://", "https://", "gs://")):
            raise TeacherUnavailable(
                f"teacher '{handle}' is neither a known name ({', '.join(TRILLSSON)}), "
                f"a URL, nor an existing SavedModel folder")
        try:
            self.module = hub.load(self.handle)
        except Exception as e:  # network, missing files, bad SavedModel: one clear message
            reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise TeacherUnavailable(
                f"could not load teacher '{self.handle}': {reason}\n"
                "  Without network, supply a local copy: download the model elsewhere and pass its "
                "folder with --teacher PATH, or set TFHUB_CACHE_DIR to a folder holding the cached "
                "TF-Hub download.") from None
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, audio):
        t0 = time.perf_counter()
        out = self.module(tf.constant(np.asarray(audio, np.float32)))
        if isinstance(out, dict):
            if self.output_key not in out:
                raise KeyError(f"teacher '{self.handle}' has outputs {sorted(out)}, not '{self.output_key}'")
            out = out[self.output_key]
        self.calls += 1
        self.seconds += time.perf_counter() - t0
        out = np.asarray(out, np.float32)
        return out.reshape(out.shape[0], -1)


class StandInTeacher(tf.Module):
    """A float embedder with TRILLsson's interface, for offline runs.

    Per-clip normalised log-mel → `embedding_dim / 2` fixed, seeded random filters spanning
    `kernel_frames` frames and every mel band → ReLU → mean and max over time, standardised
    with statistics of the calibration clips. Random convolutional features like these
    separate words and voices well under a linear probe, so the student has something real
    to copy, but this is not TRILLsson.
    """

    def __init__(self, calibration_audio, embedding_dim=1024, kernel_frames=15, num_mel_bins=64, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.kernel_frames = kernel_frames
        self.num_mel_bins = num_mel_bins
        self.filters = tf.Variable(rng.standard_normal(
            (kernel_frames, num_mel_bins, 1, embedding_dim // 2)).astype(np.float32)
            / np.sqrt(kernel_frames * num_mel_bins), trainable=False)
        self.mean = tf.Variable(tf.zeros([embedding_dim // 2 * 2]), trainable=False)
        self.std = tf.Variable(tf.ones([embedding_dim // 2 * 2]), trainable=False)
        feats = self._features(tf.constant(calibration_audio, tf.float32))
        self.mean.assign(tf.reduce_mean(feats, 0))
        self.std.assign(tf.math.reduce_std(feats, 0) + 1e-3)

    def _features(self, audio):
        lm = log_mel(audio, num_mel_bins=self.num_mel_bins)                       # [b, t, m]
        mean, var = tf.nn.moments(lm, axes=[1, 2], keepdims=True)
        x = (lm - mean) / tf.sqrt(var + 1e-6)
        half = self.kernel_frames // 2
        x = tf.pad(x, [[0, 0], [half, half], [0, 0]])[..., None]
        y = tf.nn.relu(tf.nn.conv2d(x, self.filters, strides=1, padding="VALID")[:, :, 0, :] - 0.5)
        return tf.concat([tf.reduce_mean(y, 1), tf.reduce_max(y, 1)], -1)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def __call__(self, audio):
        return {"embedding": (self._features(audio) - self.mean) / self.std}


def build_stand_in(path, calibration_audio, embedding_dim=1024, seed=0):
    """Write a stand-in teacher SavedModel to `path` and return `path`."""
    module = StandInTeacher(np.asarray(calibration_audio, np.float32), embedding_dim, seed=seed)
    tf.saved_model.save(module, str(path))
    return str(path)


def load(handle, output_key="embedding"):
    return Teacher(handle, output_key)


def embed(teacher, audio, keys, cache, batch_size=32, progress=None):
    """Embeddings for every clip, from the cache where present, else from the teacher.

    `keys[i]` is the cache key of `audio[i]`. Returns (embeddings [n, dim], hits, computed).
    Each computed batch is stored before the next one starts, so an interrupted run resumes.
    """
    found = cache.lookup(keys)
    todo = [i for i, k in enumerate(keys) if k not in found]
    out = dict(found)
    t0 = last = time.perf_counter()
    for start in range(0, len(todo), batch_size):
        idx = todo[start:start + batch_size]
        emb = teacher(audio[idx])
        batch_keys = [keys[i] for i in idx]
        cache.add(batch_keys, emb)
        out.update(zip(batch_keys, emb))
        done = start + len(idx)
        if progress and (time.perf_counter() - last > 2 or done == len(todo)):
            last = time.perf_counter()
            rate = done / max(time.perf_counter() - t0, 1e-9)
            progress(f"teacher: {done}/{len(todo)} clips embedded, {rate:.1f} clips/s, "
                     f"ETA {(len(todo) - done) / max(rate, 1e-9):.0f} s")
    return np.stack([out[k] for k in keys]), len(found), len(todo)
