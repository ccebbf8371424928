"""Binary building blocks that LCE turns into `LceBconv2d`.

LCE binarizes a `QuantConv2D` only when its input comes from a sign quantizer and its
kernel is ±1 (`ste_sign` on both sides) and its padding is "valid" or "same" with
`pad_values=1.0`; `binary_conv` builds exactly that.

```python
from models import blocks
y = blocks.residual_block(x, name="s1b1")          # QuickNet-style binary residual block
y = blocks.transition(y, filters=64, name="t2")   # float, cheap, halves the resolution
```
"""
import larq as lq

import pipeline  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
import tensorflow as tf

layers = tf.keras.layers


def binary_conv(filters, kernel_size=3, strides=1, name=None):
    return lq.layers.QuantConv2D(
        filters, kernel_size, strides=strides, padding="same", pad_values=1.0,
        input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
        use_bias=False, name=name)


def batch_norm(name=None):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def stem(x, filters, name="stem"):
    """Float stem: log-mel image → `filters` channels at 1/4 resolution."""
    x = layers.Conv2D(max(8, filters // 2), 3, strides=2, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn1")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = batch_norm(f"{name}_bn2")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    return batch_norm(f"{name}_bn3")(x)


def residual_block(x, name, kernel_size=3):
    """QuickNet block: binary conv → ReLU → BN, added to the input."""
    filters = x.shape[-1]
    y = binary_conv(filters, kernel_size, name=f"{name}_bconv")(x)
    y = layers.ReLU(name=f"{name}_relu")(y)
    y = batch_norm(f"{name}_bn")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def transition(x, filters, name):
    """QuickNet transition: max-pool, float depthwise and pointwise convs (few MACs)."""
    x = layers.ReLU(name=f"{name}_relu")(x)
    x = layers.MaxPool2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = batch_norm(f"{name}_bn1")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    return batch_norm(f"{name}_bn2")(x)
