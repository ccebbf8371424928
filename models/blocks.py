"""Binary building blocks that LCE turns into `LceBconv2d`, and the cheap float glue around them.

LCE binarizes a `QuantConv2D` only when its input comes from a sign quantizer and its
kernel is ±1 (`ste_sign` on both sides) and its padding is "valid" or "same" with
`pad_values=1.0`; `binary_conv` builds exactly that. `QuantDense` and depthwise convs stay
float in LCE, so every block below spends its multiply-accumulates in `binary_conv`s and
keeps the float parts (stem, transitions, shortcuts) to a few MACs.

```python
from models import blocks
x = blocks.stem(x, filters=32)                          # float: log-mel image → 1/4 resolution
y = blocks.residual_block(x, name="s1b1")               # QuickNet: x + BN(ReLU(bconv(x)))
y = blocks.react_block(x, name="s1b1")                  # ReActNet: RPReLU(x + BN(bconv(RSign(x))))
y = blocks.pool_transition(y, name="t2")                # no MACs: ½ resolution, 2× channels
y = blocks.bireal_block(y, name="s2b1", strides=2, filters=128)   # Bi-Real, binary downsampling
y = blocks.dense_layer(y, growth=16, name="d1")          # BinaryDenseNet: concat(x, BN(bconv(BN(x))))
y = blocks.improvement_layer(y, growth=16, name="i1")    # MeliusNet: last 16 channels += BN(bconv(BN(x)))
y = blocks.transition(y, filters=64, name="t3")          # float 1×1 (channel reduction), ½ resolution
```

Why our own blocks and not larq-zoo: larq-zoo 2.4.0 pins protobuf<3.21, which TensorFlow
2.16 does not accept, and its factories (`QuickNet(input_tensor=...)`, ...) reject Keras
tensors, so they could neither sit behind the in-graph log-mel front end nor expose the
block boundaries the exits tap; their stems and strides are also sized for 224×224 RGB
images, not 98×64 log-mel images. The blocks here follow the same papers (QuickNet,
BinaryDenseNet, Bi-Real Net, MeliusNet) at audio sizes, in a few lines each.
"""

import math

import larq as lq

import tensorflow as tf

layers = tf.keras.layers


def binary_conv(filters, kernel_size=3, strides=1, name=None):
    """A QuantConv2D that LCE converts to `LceBconv2d` (sign inputs, ±1 kernel, pad with +1).

    Args:
        filters: output channels.
        kernel_size: the kernel's size (an int or a pair).
        strides: the stride (an int or a pair).
        name: the layer's name.

    Returns:
        An unbuilt `lq.layers.QuantConv2D` (padding "same", no bias).
    """
    return lq.layers.QuantConv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        pad_values=1.0,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
        name=name,
    )


def batch_norm(name=None):
    """The batch norm used throughout (momentum 0.9, epsilon 1e-5).

    Args:
        name: the layer's name.

    Returns:
        An unbuilt `BatchNormalization` layer.
    """
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def stem(x, filters, name="stem"):
    """Float stem: log-mel image → `filters` channels at 1/4 resolution, few MACs.

    A 3×3 stride-2 conv to a few channels, then a 3×3 stride-2 depthwise conv whose depth
    multiplier fans them out to `filters` (no pointwise conv: that one cost as much as the
    rest of the stem together).

    Args:
        x: the log-mel image, a Keras tensor [batch, frames, bins, 1].
        filters: output channels.
        name: the prefix of its layers' names.

    Returns:
        The stem's output [batch, ⌈frames / 4⌉, ⌈bins / 4⌉, filters].
    """
    first = math.gcd(filters, 8)
    x = layers.Conv2D(first, 3, strides=2, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn1")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    x = layers.DepthwiseConv2D(
        3, strides=2, padding="same", depth_multiplier=filters // first, use_bias=False, name=f"{name}_dw"
    )(x)
    return batch_norm(f"{name}_bn2")(x)


def residual_block(x, name, kernel_size=3):
    """QuickNet block: binary conv → ReLU → BN, added to the input.

    Args:
        x: a Keras tensor [batch, h, w, c].
        name: the prefix of its layers' names.
        kernel_size: the binary conv's kernel size.

    Returns:
        A tensor of the same shape as `x`.
    """
    filters = x.shape[-1]
    y = binary_conv(filters, kernel_size, name=f"{name}_bconv")(x)
    y = layers.ReLU(name=f"{name}_relu")(y)
    y = batch_norm(f"{name}_bn")(y)
    return layers.Add(name=f"{name}_add")([x, y])


@tf.keras.utils.register_keras_serializable(package="models")
class LearnedShift(layers.Layer):
    """x + b, one learned b per channel: placed before a binary conv, the sign's threshold is learned
    (ReActNet's RSign, Liu et al. 2020) instead of fixed at zero. One float add per element; LCE still
    binarizes the conv that follows.

    ```python
    y = blocks.LearnedShift()(x)       # b starts at 0: the identity
    ```
    """

    def build(self, input_shape):
        """Create the shift, one per channel.

        Args:
            input_shape: the input's shape; its last dimension is the channels.
        """
        self.shift = self.add_weight(name="shift", shape=(input_shape[-1],), initializer="zeros")
        super().build(input_shape)

    def call(self, x):
        """Shift each channel.

        Args:
            x: a tensor [..., channels].

        Returns:
            x + shift, the same shape.
        """
        return x + self.shift


@tf.keras.utils.register_keras_serializable(package="models")
class RPReLU(layers.Layer):
    """ReActNet's RPReLU: PReLU(x - g) + z with g, z and the negative slope a learned per channel,
    so each channel's distribution is moved and reshaped after a binary conv (a = 0.25, g = z = 0
    at the start).

    ```python
    y = blocks.RPReLU()(x)
    ```
    """

    def build(self, input_shape):
        """Create g, a and z, one of each per channel.

        Args:
            input_shape: the input's shape; its last dimension is the channels.
        """
        c = (input_shape[-1],)
        self.before = self.add_weight(name="shift_in", shape=c, initializer="zeros")
        self.slope = self.add_weight(name="slope", shape=c, initializer=tf.keras.initializers.Constant(0.25))
        self.after = self.add_weight(name="shift_out", shape=c, initializer="zeros")
        super().build(input_shape)

    def call(self, x):
        """Apply RPReLU.

        Args:
            x: a tensor [..., channels].

        Returns:
            PReLU(x - g) + z, the same shape.
        """
        y = x - self.before
        return tf.nn.relu(y) - self.slope * tf.nn.relu(-y) + self.after


def react_block(x, name, kernel_size=3):
    """QuickNet's residual block with ReActNet's learned distributions: RSign (a learned threshold per
    channel, `LearnedShift`) → binary conv → BN, added to the input, then `RPReLU`. The same binary
    MACs as `residual_block`; per element four float ops more.

    Args:
        x: a Keras tensor [batch, h, w, c].
        name: the prefix of its layers' names.
        kernel_size: the binary conv's kernel size.

    Returns:
        A tensor of the same shape as `x`.
    """
    filters = x.shape[-1]
    y = LearnedShift(name=f"{name}_rsign")(x)
    y = binary_conv(filters, kernel_size, name=f"{name}_bconv")(y)
    y = batch_norm(f"{name}_bn")(y)
    y = layers.Add(name=f"{name}_add")([x, y])
    return RPReLU(name=f"{name}_rprelu")(y)


RESIDUAL_BLOCKS = {  # quicknet's `block`: what each of its residual blocks is
    "quicknet": residual_block,
    "react": react_block,
}


def pool_transition(x, name, widen=True):
    """No-MAC transition: ½ resolution by max- and average-pooling, their concatenation
    doubles the channels (`widen`; else only the max-pool), then BN.

    Replaces QuickNet's float depthwise + pointwise transition: that pointwise conv was
    ~40 % of the float MACs outside the log-mel front end, and the binary blocks that follow
    mix the channels anyway (as ReActNet's channel duplication does).

    Args:
        x: a Keras tensor [batch, h, w, c].
        name: the prefix of its layers' names.
        widen: concatenate the average pool to double the channels; False: the max-pool only.

    Returns:
        A tensor [batch, ⌈h / 2⌉, ⌈w / 2⌉, 2c] (c without `widen`).
    """
    pooled = layers.MaxPool2D(3, strides=2, padding="same", name=f"{name}_maxpool")(x)
    if widen:
        avg = layers.AveragePooling2D(3, strides=2, padding="same", name=f"{name}_avgpool")(x)
        pooled = layers.Concatenate(name=f"{name}_concat")([pooled, avg])
    return batch_norm(f"{name}_bn")(pooled)


def transition(x, filters, name):
    """Float transition: max-pool, ReLU, 1×1 conv to `filters` channels (BinaryDenseNet,
    MeliusNet: the channel reduction of a dense section), BN.

    Args:
        x: a Keras tensor [batch, h, w, c].
        filters: output channels.
        name: the prefix of its layers' names.

    Returns:
        A tensor [batch, ⌈h / 2⌉, ⌈w / 2⌉, filters].
    """
    x = layers.MaxPool2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    return batch_norm(f"{name}_bn")(x)


def bireal_block(x, name, strides=1, filters=None):
    """Bi-Real block: a real-valued shortcut around every single binary conv, x + BN(bconv(x)).

    With `strides=2` (and `filters`, default 2× the input) it is the downsampling block: the
    binary conv strides, the shortcut is a 2×2 average pool whose channels are repeated to
    `filters` (ReActNet's duplication instead of Bi-Real's float 1×1 conv: no float MACs).

    Args:
        x: a Keras tensor [batch, h, w, c].
        name: the prefix of its layers' names.
        strides: the binary conv's stride (2: the downsampling block).
        filters: output channels, a multiple of c; None: 2c with `strides` > 1, else c.

    Returns:
        A tensor [batch, ⌈h / strides⌉, ⌈w / strides⌉, filters].

    Raises:
        ValueError: when `filters` is not a multiple of the input's channels.
    """
    filters = filters or (x.shape[-1] * (2 if strides > 1 else 1))
    y = binary_conv(filters, 3, strides=strides, name=f"{name}_bconv")(x)
    y = batch_norm(f"{name}_bn")(y)
    shortcut = x
    if strides > 1:
        shortcut = layers.AveragePooling2D(2, strides=strides, padding="same", name=f"{name}_pool")(shortcut)
    if filters != x.shape[-1]:
        if filters % x.shape[-1]:
            raise ValueError(f"{name}: {filters} channels is not a multiple of the input's {x.shape[-1]}")
        shortcut = layers.Concatenate(name=f"{name}_repeat")([shortcut] * (filters // x.shape[-1]))
    return layers.Add(name=f"{name}_add")([shortcut, y])


def dense_layer(x, growth, name):
    """BinaryDenseNet layer: BN → binary 3×3 conv with `growth` channels → BN, concatenated to x.

    The BN after the conv (LCE folds it into the binary conv's output transform) keeps the new
    channels at the scale of the old ones: a binary conv's raw outputs are integers up to
    9 × channels, which the exit heads and float transitions would otherwise see unscaled.

    Args:
        x: a Keras tensor [batch, h, w, c].
        growth: the new channels.
        name: the prefix of its layers' names.

    Returns:
        A tensor [batch, h, w, c + growth].
    """
    y = batch_norm(f"{name}_bn")(x)
    y = binary_conv(growth, 3, name=f"{name}_bconv")(y)
    y = batch_norm(f"{name}_bn_out")(y)
    return layers.Concatenate(name=f"{name}_concat")([x, y])


@tf.keras.utils.register_keras_serializable(package="models")
class AddToLast(layers.Layer):
    """[x, y] → x with y added to its last y.shape[-1] channels (MeliusNet's improvement).

    ```python
    AddToLast()([tf.zeros([1, 2, 2, 8]), tf.ones([1, 2, 2, 3])])   # channels 5..7 become 1
    ```
    """

    def call(self, inputs):
        """Add y to the last channels of x.

        Args:
            inputs: [x [..., c], y [..., g]] with g <= c.

        Returns:
            A tensor shaped as x.
        """
        x, y = inputs
        g = y.shape[-1]
        return tf.concat([x[..., :-g], x[..., -g:] + y], axis=-1)

    def compute_output_shape(self, input_shapes):
        """The output shape: x's.

        Args:
            input_shapes: [x's shape, y's shape].

        Returns:
            x's shape.
        """
        return input_shapes[0]


def improvement_layer(x, growth, name):
    """MeliusNet improvement block: BN → binary 3×3 conv over all channels → `growth` outputs
    → BN, added to the newest `growth` channels (raises their quality without adding channels).

    Args:
        x: a Keras tensor [batch, h, w, c], c >= growth.
        growth: the channels improved (the last `growth` of x).
        name: the prefix of its layers' names.

    Returns:
        A tensor of the same shape as `x`.
    """
    y = batch_norm(f"{name}_bn")(x)
    y = binary_conv(growth, 3, name=f"{name}_bconv")(y)
    y = batch_norm(f"{name}_bn_out")(y)
    return AddToLast(name=f"{name}_improve")([x, y])
