"""Standard keyword models a user would pick instead of a binary student, chosen by name from a
registry and built on the student's own in-graph front end, so both take raw 16 kHz audio.

```python
from models import baselines
model = baselines.build("ds_cnn", num_classes=12, clip_samples=16000, frontend={"kind": "gabor"})
model(audio)                    # [batch, 12] class probabilities
sorted(baselines.BASELINES)     # ['ds_cnn']
```
`ds_cnn` is the depthwise-separable CNN of "Hello Edge" (Zhang et al., 2017) in the small form that
kws_streaming and MLPerf Tiny's keyword task train: a float 10×4 convolution with stride 2 to 64
channels, four blocks of a 3×3 depthwise and a 1×1 pointwise convolution (batch norm and ReLU after
each), a global average pool, dropout and a softmax; its kws recipe hops 20 ms. It is the model a
user would quantize to int8 and run with stock TFLite (`export.convert.to_int8`).
"""

import tensorflow as tf

from models.errors import ConfigError
from models.registry import registrar
from models.frontend import SAMPLE_RATE, LogMel, SpecAugment

layers = tf.keras.layers
BASELINES = {}


def _bn(name):
    # momentum 0.9, as the students' (Keras' 0.99 leaves the moving statistics near their start after the few
    # hundred steps a small task trains for, and inference then sees unnormalised log-mel)
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


# `@register("name")` adds a baseline: fn(x, num_classes, **options) → class probabilities
register = registrar(BASELINES)


@register("ds_cnn")
def ds_cnn(x, num_classes, filters=64, blocks=4, dropout=0.2):
    """Log-mel image [batch, frames, bins, 1] → class probabilities (DS-CNN-S).

    Args:
        x: the log-mel image, a Keras tensor.
        num_classes: classes of the task.
        filters: channels of every convolution.
        blocks: depthwise-separable blocks.
        dropout: the dropout rate before the classifier.

    Returns:
        The softmax output [batch, num_classes] (layer "probs").
    """
    x = layers.Conv2D(filters, (10, 4), strides=2, padding="same", use_bias=False, name="ds_conv")(x)
    x = _bn("ds_conv_bn")(x)
    x = layers.ReLU(name="ds_conv_relu")(x)
    for b in range(1, blocks + 1):
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"ds{b}_dw")(x)
        x = _bn(f"ds{b}_dw_bn")(x)
        x = layers.ReLU(name=f"ds{b}_dw_relu")(x)
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"ds{b}_pw")(x)
        x = _bn(f"ds{b}_pw_bn")(x)
        x = layers.ReLU(name=f"ds{b}_pw_relu")(x)
    x = layers.GlobalAveragePooling2D(name="ds_pool")(x)
    x = layers.Dropout(dropout, name="ds_dropout")(x)
    return layers.Dense(num_classes, activation="softmax", name="probs")(x)


def build(
    name: str = "ds_cnn",
    num_classes: int = 12,
    clip_samples: int = SAMPLE_RATE,
    num_mel_bins: int = 40,
    frontend: dict = None,
    spec_augment: bool = True,
    seed: int = 0,
    **options,
) -> tf.keras.Model:
    """Raw audio [batch, clip_samples] → class probabilities [batch, num_classes] of baseline `name`.

    Args:
        name: a key of `BASELINES`.
        num_classes: classes of the task.
        clip_samples: samples of one clip at 16 kHz.
        num_mel_bins: bands of the front end.
        frontend: `LogMel` settings (kind, frame_length, frame_step, fft_length), as the student's.
        spec_augment: SpecAugment masks while training (absent from TFLite).
        seed: SpecAugment's seed.
        **options: the baseline's own (DS-CNN: filters, blocks, dropout).

    Returns:
        An untrained Keras model named `name`.

    Raises:
        ConfigError: for an unknown `name` (or bad front-end settings).
    """
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline '{name}'; choose one of {sorted(BASELINES)}")
    audio = tf.keras.Input((clip_samples,), name="audio")
    x = LogMel(**{"num_mel_bins": num_mel_bins, **(frontend or {})}, name="log_mel")(audio)
    x = _bn("input_bn")(x)
    if spec_augment:
        x = SpecAugment(seed=seed, name="spec_augment")(x)
    return tf.keras.Model(audio, BASELINES[name](x, num_classes, **options), name=name)
