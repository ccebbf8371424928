"""Log-mel front end inside the graph, so the exported model takes raw 16 kHz audio.

```python
import tensorflow as tf
from models.frontend import LogMel, SpecAugment
feats = LogMel(num_mel_bins=64)(tf.zeros([2, 16000]))   # [2, frames, 64, 1]
feats = SpecAugment(seed=0)(feats, training=True)       # time/frequency masks, training only
```
`tf.signal.stft` lowers to TFLite's RFFT2D + ComplexAbs, which LCE's converter and
both interpreters (LCE and stock TFLite) run.
"""
import tensorflow as tf

from models.errors import ConfigError

SAMPLE_RATE = 16000  # Hz: the one sample rate of every clip, teacher call and model input


def log_mel(audio, sample_rate=SAMPLE_RATE, frame_length=400, frame_step=160, fft_length=512,
            num_mel_bins=64, lower_edge_hertz=60.0, upper_edge_hertz=7800.0):
    """float32 audio [batch, samples] → log-mel magnitudes [batch, frames, num_mel_bins]."""
    stft = tf.signal.stft(audio, frame_length=frame_length, frame_step=frame_step,
                          fft_length=fft_length, pad_end=False)
    mag = tf.abs(stft)
    mel = tf.signal.linear_to_mel_weight_matrix(num_mel_bins, fft_length // 2 + 1, sample_rate,
                                                lower_edge_hertz, upper_edge_hertz)
    return tf.math.log(tf.matmul(mag, mel) + 1e-6)


def num_frames(samples, frame_length=400, frame_step=160):
    return 1 + (samples - frame_length) // frame_step


@tf.keras.utils.register_keras_serializable(package="models")
class LogMel(tf.keras.layers.Layer):
    """Raw audio [batch, samples] → log-mel image [batch, frames, num_mel_bins, 1]."""

    def __init__(self, sample_rate=SAMPLE_RATE, frame_length=400, frame_step=160, fft_length=512,
                 num_mel_bins=64, lower_edge_hertz=60.0, upper_edge_hertz=7800.0, **kwargs):
        super().__init__(**kwargs)
        self.params = dict(sample_rate=sample_rate, frame_length=frame_length, frame_step=frame_step,
                           fft_length=fft_length, num_mel_bins=num_mel_bins,
                           lower_edge_hertz=lower_edge_hertz, upper_edge_hertz=upper_edge_hertz)

    def call(self, audio):
        return tf.expand_dims(log_mel(audio, **self.params), -1)  # not [..., None]: stock TFLite lacks that StridedSlice

    def compute_output_shape(self, input_shape):
        frames = None if input_shape[1] is None else num_frames(
            input_shape[1], self.params["frame_length"], self.params["frame_step"])
        return tf.TensorShape([input_shape[0], frames, self.params["num_mel_bins"], 1])

    def get_config(self):
        return {**super().get_config(), **self.params}


@tf.keras.utils.register_keras_serializable(package="models")
class SpecAugment(tf.keras.__internal__.layers.BaseRandomLayer):
    """SpecAugment (Park et al., 2019) on a log-mel image [batch, frames, bins, 1]: `time_masks`
    bands of up to `max_time` of the frames and `freq_masks` bands of up to `max_freq` of the
    bins are set to `fill`, independently per clip, only when `training=True`.

    ```python
    aug = SpecAugment(time_masks=2, max_time=0.1, freq_masks=2, max_freq=0.1, seed=0)
    y = aug(feats, training=True)   # some frame and bin bands of each clip become 0
    aug(feats) is feats             # inference: returns its input, so no op reaches TFLite
    ```
    Placed after the input batch norm, where 0 is the mean of the normalised features. The
    defaults (one band of each, up to 10 %) did best on the bundled demo; two of each cost
    accuracy at 80 epochs.
    Seeded: the same seed gives the same masks in the same order.
    """

    def __init__(self, time_masks=1, max_time=0.1, freq_masks=1, max_freq=0.1, fill=0.0, seed=None,
                 **kwargs):
        # a tf.random.Generator from the seed (not Keras' legacy op seeds): a layer rebuilt with
        # the same seed draws the same masks; under tf.distribute each replica gets its own stream
        super().__init__(seed=seed, rng_type="stateful", **kwargs)
        for n, v in (("time_masks", time_masks), ("freq_masks", freq_masks)):
            if int(v) != v or v < 0:
                raise ConfigError(f"SpecAugment: {n} must be a whole number >= 0, got {v}")
        for n, v in (("max_time", max_time), ("max_freq", max_freq)):
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"SpecAugment: {n} is a fraction of the axis, in [0, 1], got {v}")
        self.params = dict(time_masks=int(time_masks), max_time=float(max_time), freq_masks=int(freq_masks),
                           max_freq=float(max_freq), fill=float(fill), seed=seed)

    def _bands(self, batch, size, count, fraction):
        """[batch, size] bool: `count` random bands of width 0..fraction*size per row."""
        size_f = tf.cast(size, tf.float32)
        max_w = tf.floor(fraction * size_f)
        positions = tf.range(size, dtype=tf.float32)[None, :]
        masked = tf.zeros([batch, size], tf.bool)
        for _ in range(count):
            u = self._random_generator.random_uniform([batch, 2])
            width = tf.floor(u[:, :1] * (max_w + 1.0))
            start = tf.floor(u[:, 1:] * (size_f - width + 1.0))
            masked = masked | ((positions >= start) & (positions < start + width))
        return masked

    def _mask(self, x):
        shape = tf.shape(x)
        p = self.params
        t = self._bands(shape[0], shape[1], p["time_masks"], p["max_time"])
        f = self._bands(shape[0], shape[2], p["freq_masks"], p["max_freq"])
        masked = (t[:, :, None] | f[:, None, :])[..., None]
        return tf.where(masked, tf.cast(p["fill"], x.dtype), x)

    def call(self, x, training=None):
        if training is None:
            training = tf.keras.backend.learning_phase()
        if isinstance(training, bool) or isinstance(training, int):
            return self._mask(x) if training else x
        return tf.cond(tf.cast(training, tf.bool), lambda: self._mask(x), lambda: tf.identity(x))

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def get_config(self):
        return {**super().get_config(), **self.params}
