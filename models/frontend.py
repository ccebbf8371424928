"""Log-mel front end inside the graph, so the exported model takes raw 16 kHz audio.

```python
import tensorflow as tf
from models.frontend import LogMel
feats = LogMel(num_mel_bins=64)(tf.zeros([2, 16000]))   # [2, frames, 64, 1]
```
`tf.signal.stft` lowers to TFLite's RFFT2D + ComplexAbs, which LCE's converter and
both interpreters (LCE and stock TFLite) run.
"""
import pipeline  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
import tensorflow as tf


def log_mel(audio, sample_rate=16000, frame_length=400, frame_step=160, fft_length=512,
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

    def __init__(self, sample_rate=16000, frame_length=400, frame_step=160, fft_length=512,
                 num_mel_bins=64, lower_edge_hertz=60.0, upper_edge_hertz=7800.0, **kwargs):
        super().__init__(**kwargs)
        self.params = dict(sample_rate=sample_rate, frame_length=frame_length, frame_step=frame_step,
                           fft_length=fft_length, num_mel_bins=num_mel_bins,
                           lower_edge_hertz=lower_edge_hertz, upper_edge_hertz=upper_edge_hertz)

    def call(self, audio):
        return log_mel(audio, **self.params)[..., None]

    def compute_output_shape(self, input_shape):
        frames = None if input_shape[1] is None else num_frames(
            input_shape[1], self.params["frame_length"], self.params["frame_step"])
        return tf.TensorShape([input_shape[0], frames, self.params["num_mel_bins"], 1])

    def get_config(self):
        return {**super().get_config(), **self.params}
