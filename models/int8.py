"""Symmetric int8 with one scale per output channel: how a file stores a float weight in a quarter of the
bytes, and the float values it stores exactly.

```python
from models import int8
q, scale = int8.quantize(w, axis=1)        # int8 values, one float32 scale per index of axis 1
w2 = int8.dequantize(q, scale, axis=1)     # what TFLite's DEQUANTIZE computes: scale × q
g = int8.on_grid(w, axis=1)                # w rounded to values that quantize stores exactly
np.array_equal(int8.dequantize(*int8.quantize(g, 1), 1), g)   # True
```
`export.weights` stores a converted file's weights this way; a fixed filter bank built `on_grid`
(`models.frontend.LogMel(filters="int8")`) is then stored as int8 with no rounding at export: the
file computes exactly what the trained network computed.
"""

import numpy as np

_Q = np.float32(127.0)


def _channel_shape(ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return shape


def quantize(w, axis):
    """A float array → (int8 values, float32 scale per index of `axis`), symmetric, zero point 0.

    A channel whose values are all ±m or 0 gets the scale m and values in {-1, 0, 1}, which is exact;
    any other the scale max|w| / 127.

    Args:
        w: a float32 array.
        axis: the output-channel axis (one scale per index along it).

    Returns:
        (q, scale): q an int8 array of w's shape, scale a float32 vector with scale × q ≈ w.
    """
    w = np.asarray(w, np.float32)
    others = tuple(i for i in range(w.ndim) if i != axis)
    shape = _channel_shape(w.ndim, axis)
    peak = np.abs(w).max(axis=others).astype(np.float32)
    two_level = np.all((np.abs(w) == peak.reshape(shape)) | (w == 0), axis=others)
    scale = np.where(two_level, peak, peak / _Q).astype(np.float32)
    scale = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)  # an all-zero channel
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def dequantize(q, scale, axis):
    """What TFLite's DEQUANTIZE computes: scale × q, float32.

    Args:
        q: int8 values.
        scale: float32 scale per index of `axis`.
        axis: the channel axis.

    Returns:
        A float32 array of q's shape.
    """
    return q.astype(np.float32) * np.asarray(scale, np.float32).reshape(_channel_shape(q.ndim, axis))


def on_grid(w, axis):
    """`w` rounded to the nearest values that `quantize` stores exactly (at most half a step, the channel's
    largest magnitude / 254, from `w`): `dequantize(*quantize(g, axis), axis)` is `g`, bit for bit.

    That is `w` quantized and dequantized once: `quantize` finds the same scale again from the rounded
    channel (its largest value is scale × 127 rounded to float32, and dividing that by 127 gives the scale
    back; checked on 200,000 random channels in the tests). A channel for which it did not would only be
    left float32 by `export.weights`, never stored wrong.

    Args:
        w: a float array.
        axis: the output-channel axis (one scale per index along it), as `quantize` will be called.

    Returns:
        A float32 array of w's shape.
    """
    return dequantize(*quantize(w, axis), axis)
