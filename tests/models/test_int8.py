"""models.int8: symmetric per-channel int8, and the float values it stores exactly."""

import numpy as np

from models import int8


def test_on_grid_values_survive_quantize_bit_for_bit_and_move_by_at_most_half_a_step():
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = (rng.normal(size=(40, 64)) * rng.uniform(1e-4, 10.0, size=64)).astype(np.float32)
        w[:, 5] = 0.0  # an all-zero filter
        g = int8.on_grid(w, axis=1)
        assert g.dtype == np.float32 and g.shape == w.shape
        np.testing.assert_array_equal(int8.dequantize(*int8.quantize(g, 1), 1), g)
        step = np.abs(w).max(axis=0) / 127
        assert np.all(np.abs(g - w) <= step / 2 * (1 + 1e-5))
    # the property on_grid rests on: a rounded channel's scale is found again (200,000 channels)
    for _ in range(100):
        w = (rng.normal(size=(40, 2000)) * rng.uniform(1e-4, 10.0, size=2000)).astype(np.float32)
        g = int8.on_grid(w, 1)
        np.testing.assert_array_equal(int8.quantize(g, 1)[1], int8.quantize(w, 1)[1])
