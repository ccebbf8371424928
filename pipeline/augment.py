"""Waveform augmentation for distillation, inside tf.data (seeded, switchable).

```python
from pipeline import augment, datasets
noise, _ = datasets.load_noise(ds.noise)           # `_background_noise_` recordings, or []
fn = augment.waveform(noise=noise, seed=0)          # fn(audio, target) → (audio', target)
ds = ds.map(fn)
distill.distill(model, x, t, augment=fn)            # what pipeline/run.py does
```
Each clip gets a random time shift (zero-filled), a random gain and, with probability
`noise_prob`, additive noise at a random SNR in [noise_snr_db, noise_snr_db + 20] dB:
a random stretch of the background-noise recordings when there are any, else white noise.
Random numbers come from a `tf.random.Generator` seeded with `seed`.

The teacher's target stays the one computed on the clean clip (cached once per clip):
shift, gain and light noise do not change what was said, and a clean target is what the
student should reproduce from a perturbed input. Recomputing targets on every augmented
copy would call the teacher every epoch, which the cache exists to avoid.
"""

import numpy as np
import tensorflow as tf

from models.frontend import SAMPLE_RATE


def waveform(
    shift_seconds=0.1, gain_db=6.0, noise_snr_db=20.0, noise=None, noise_prob=0.8, seed=0, sample_rate=SAMPLE_RATE
):
    """Returns fn(audio [samples], target) → (augmented audio, target).

    `noise`: background-noise recordings (1-D float arrays of any length, 16 kHz), or
    None / [] for synthetic white noise; `noise_snr_db=None` turns noise off.
    """
    max_shift = int(shift_seconds * sample_rate)
    gen = tf.random.Generator.from_seed(seed)
    bank = None
    if noise is not None and len(noise):
        parts = [np.asarray(x, np.float32).ravel() for x in noise]
        parts = [x / (np.sqrt(np.mean(np.square(x))) + 1e-8) for x in parts if x.size]  # unit RMS each
        bank = tf.constant(np.concatenate(parts)) if parts else None

    def background(n):
        if bank is None:
            return gen.normal([n])
        total = tf.shape(bank)[0]
        reps = n // total + 2  # a recording shorter than the clip is looped
        start = gen.uniform([], 0, total, dtype=tf.int32)
        return tf.tile(bank, [reps])[start : start + n]

    def fn(audio, target):
        n = tf.shape(audio)[0]
        if max_shift > 0:
            shift = gen.uniform([], -max_shift, max_shift + 1, dtype=tf.int32)
            padded = tf.pad(audio, [[max_shift, max_shift]])
            audio = padded[max_shift - shift : max_shift - shift + n]
        if gain_db > 0:
            audio = audio * tf.pow(10.0, gen.uniform([], -gain_db, gain_db) / 20.0)
        if noise_snr_db is not None:
            power = tf.reduce_mean(tf.square(audio)) + 1e-10
            snr = gen.uniform([], noise_snr_db, noise_snr_db + 20.0)
            nz = background(n)
            nz = nz * tf.sqrt(power / tf.pow(10.0, snr / 10.0) / (tf.reduce_mean(tf.square(nz)) + 1e-10))
            audio = audio + tf.cast(gen.uniform([]) < noise_prob, tf.float32) * nz
        return tf.clip_by_value(audio, -1.0, 1.0), target

    return fn
