"""Symmetric int8 with one scale per channel: the one rounding rule of the weights a file stores as int8.

```python
from models import int8
q, scale = int8.quantize(kernel, axis=-1)   # int8 values, float32 scale per channel
kernel = int8.grid(kernel, axis=-1)         # the kernel that int8 storage keeps exactly
```
`export.weights` stores a converted file's large float weights this way; a fixed kernel built on
the grid (the "gabor" front end's filters) comes back from that storage bit for bit.
"""

import numpy as np


def quantize(w, axis=-1):
    """A float array → (int8 values, float32 scale per index of `axis`), symmetric, zero point 0.

    Args:
        w: a float array.
        axis: the channel axis (one scale per index along it).

    Returns:
        (q, scale): q an int8 array of w's shape, scale a float32 vector with scale × q ≈ w; the scale
        is the channel's largest magnitude / 127 (1 for an all-zero channel, which any scale keeps).
    """
    w = np.asarray(w, np.float32)
    axis %= w.ndim
    others = tuple(i for i in range(w.ndim) if i != axis)
    scale = (np.abs(w).max(axis=others) / 127.0).astype(np.float32)
    scale = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
    q = np.clip(np.round(w / _along(scale, w.ndim, axis)), -127, 127).astype(np.int8)
    return q, scale


def grid(w, axis=-1):
    """Round a float kernel onto the grid that `quantize` keeps exactly.

    Args:
        w: a float array.
        axis: the channel axis.

    Returns:
        A float32 array of w's shape, scale × q as TFLite's DEQUANTIZE computes it.
    """
    w = np.asarray(w, np.float32)
    q, scale = quantize(w, axis)
    return q.astype(np.float32) * _along(scale, w.ndim, axis % w.ndim)


def _along(v, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)
