"""Waveform augmentation for distillation, inside tf.data (seeded, switchable).

```python
from pipeline import augment
ds = ds.map(augment.waveform(shift_seconds=0.1, gain_db=6.0, noise_snr_db=20.0))
```
The teacher's target stays the one computed on the clean clip (cached once per clip):
shift, gain and light noise do not change what was said, and a clean target is what the
student should reproduce from a perturbed input. Recomputing targets on every augmented
copy would call the teacher every epoch, which the cache exists to avoid.
"""
import pipeline  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
import tensorflow as tf


def waveform(shift_seconds=0.1, gain_db=6.0, noise_snr_db=25.0, sample_rate=16000):
    """Returns fn(audio [samples], target) → (augmented audio, target)."""
    max_shift = int(shift_seconds * sample_rate)

    def fn(audio, target):
        n = tf.shape(audio)[0]
        if max_shift > 0:
            shift = tf.random.uniform([], -max_shift, max_shift + 1, dtype=tf.int32)
            padded = tf.pad(audio, [[max_shift, max_shift]])
            audio = padded[max_shift - shift:max_shift - shift + n]
        if gain_db > 0:
            audio = audio * tf.pow(10.0, tf.random.uniform([], -gain_db, gain_db) / 20.0)
        if noise_snr_db is not None:
            power = tf.reduce_mean(tf.square(audio)) + 1e-10
            snr = tf.random.uniform([], noise_snr_db, noise_snr_db + 20.0)
            noise = tf.random.normal([n]) * tf.sqrt(power / tf.pow(10.0, snr / 10.0))
            audio = audio + noise
        return tf.clip_by_value(audio, -1.0, 1.0), target

    return fn
