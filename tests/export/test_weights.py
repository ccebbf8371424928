"""export.weights and models.int8: int8 storage of a converted file's float weights."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from export import estimate, flatbuffer, weights
from export.interpreter import LceModel
from models import int8


def test_the_int8_grid_is_kept_exactly_and_rounds_by_at_most_half_a_step():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 7, 3)).astype(np.float32) * np.array([1e-3, 1.0, 40.0], np.float32)
    g = int8.grid(w, axis=-1)
    q, scale = int8.quantize(w, axis=-1)
    assert q.dtype == np.int8 and scale.shape == (3,) and np.abs(q).max() == 127
    assert np.all(np.abs(g - w) <= scale / 2 * (1 + 1e-6))  # per channel, whatever its magnitude
    q2, scale2 = int8.quantize(g, axis=-1)
    np.testing.assert_array_equal(q2, q)  # the grid quantizes to the same integers
    np.testing.assert_array_equal(int8.grid(g, axis=-1), g)
    zero = int8.grid(np.zeros((4, 2), np.float32), axis=0)
    assert np.all(zero == 0)


def _tiny(dense_kernel=None):
    """audio-like input → one binary conv (LCE's bitpacked weights) → a 512-unit float dense layer."""
    x = tf.keras.Input([16, 8, 4])
    y = lq.layers.QuantConv2D(
        8, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False
    )(x)
    y = tf.keras.layers.BatchNormalization()(y)
    y = tf.keras.layers.Flatten()(y)
    dense = tf.keras.layers.Dense(512, name="head")
    out = dense(y)
    m = tf.keras.Model(x, out)
    if dense_kernel is not None:
        dense.set_weights([dense_kernel(dense.get_weights()[0]), dense.get_weights()[1]])
    return m


@pytest.mark.slow
def test_int8_weights_shrink_the_float_layers_and_keep_binary_ops_and_outputs():
    from export import convert

    tf.keras.utils.set_random_seed(0)
    m = _tiny()
    fb = convert.to_lce(m)
    small = weights.int8_weights(fb)
    ops, ops_small = flatbuffer.inspect(fb)["op_counts"], flatbuffer.inspect(small)["op_counts"]
    assert ops_small.get("DEQUANTIZE") == 1 and ops_small["LceBconv2d"] == ops["LceBconv2d"] == 1
    float_bytes = 4 * m.get_layer("head").kernel.numpy().size
    assert len(fb) - len(small) > 0.7 * float_bytes  # the dense kernel went from 4 bytes a weight to 1
    x = np.random.default_rng(1).normal(size=(6, 16, 8, 4)).astype(np.float32)
    want, got = LceModel(fb).predict(x), LceModel(small).predict(x)
    (name,) = want
    err = np.abs(got[name] - want[name]).max() / np.abs(want[name]).max()
    assert 0 < err < 2e-2  # rounding of the dense kernel, nothing else
    # a DEQUANTIZE of a stored tensor runs once, when the interpreter is prepared: no cost per call
    assert estimate.estimate(small)["ms"] == pytest.approx(estimate.estimate(fb)["ms"])
    # below min_elements nothing is stored as int8
    assert "DEQUANTIZE" not in flatbuffer.inspect(weights.int8_weights(fb, min_elements=10**9))["op_counts"]


@pytest.mark.slow
def test_a_kernel_on_the_int8_grid_comes_back_exactly():
    from export import convert

    tf.keras.utils.set_random_seed(0)
    m = _tiny(dense_kernel=lambda k: int8.grid(k, axis=-1))  # Keras [in, units]: units are the channels
    fb = convert.to_lce(m)
    x = np.random.default_rng(1).normal(size=(6, 16, 8, 4)).astype(np.float32)
    want, got = LceModel(fb).predict(x), LceModel(weights.int8_weights(fb)).predict(x)
    (name,) = want
    np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5 * np.abs(want[name]).max())


@pytest.mark.slow
def test_stock_tflite_runs_int8_weights():
    from export import convert

    tf.keras.utils.set_random_seed(0)
    m = _tiny()
    fb = convert.to_portable(m, int8=True)
    assert flatbuffer.inspect(fb)["op_counts"].get("DEQUANTIZE", 0) >= 1
    x = np.random.default_rng(1).normal(size=(1, 16, 8, 4)).astype(np.float32)
    runner = tf.lite.Interpreter(model_content=fb, num_threads=1).get_signature_runner()
    (got,) = runner(**{m.input_names[0]: x}).values()
    want = m(x, training=False).numpy()
    assert np.abs(got - want).max() < 2e-2 * np.abs(want).max()
