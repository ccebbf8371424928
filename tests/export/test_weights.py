"""export.weights: int8 storage of a converted file's float weights, run by the real interpreters."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from export import estimate, flatbuffer, weights


def test_quantize_is_exact_for_two_level_channels_and_rounds_others_by_half_a_step():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 7, 3)).astype(np.float32) * np.array([1e-3, 1.0, 40.0], np.float32)
    q, scale = weights.quantize(w, axis=2)
    assert q.dtype == np.int8 and scale.shape == (3,) and np.abs(q).max() == 127
    assert np.all(np.abs(weights.dequantize(q, scale, 2) - w) <= scale / 2 * (1 + 1e-6))
    signs = np.sign(rng.normal(size=(4, 9))).astype(np.float32) * np.float32(0.37)  # binary weights × a scale
    signs[0, 0] = 0.0
    q, scale = weights.quantize(signs, axis=0)
    np.testing.assert_array_equal(weights.dequantize(q, scale, 0), signs)
    zero = np.zeros((4, 2), np.float32)
    np.testing.assert_array_equal(weights.dequantize(*weights.quantize(zero, 1), 1), zero)


def _tiny():
    """a float conv (36 × 32 weights) → a binary conv (bit-packed by LCE) → a 512-unit float dense layer."""
    x = tf.keras.Input([16, 8, 4])
    y = tf.keras.layers.Conv2D(32, 3, padding="same", name="float_conv")(x)
    y = lq.layers.QuantConv2D(
        8, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False
    )(y)
    y = tf.keras.layers.BatchNormalization()(y)
    y = tf.keras.layers.Flatten()(y)
    return tf.keras.Model(x, tf.keras.layers.Dense(512, name="head")(y))


@pytest.fixture(scope="module")
def tiny():
    tf.keras.utils.set_random_seed(0)
    m = _tiny()
    x = np.random.default_rng(1).normal(size=(6, 16, 8, 4)).astype(np.float32)
    return m, x


@pytest.mark.slow
def test_int8_weights_shrink_the_dense_layers_and_keep_binary_ops_and_outputs(tiny):
    from export import convert
    from export.interpreter import LceModel

    m, x = tiny
    fb = convert.to_lce(m)
    small = weights.compact(fb)
    ops, ops_small = flatbuffer.inspect(fb)["op_counts"], flatbuffer.inspect(small)["op_counts"]
    assert ops_small.get("DEQUANTIZE") == 1 and ops_small["LceBconv2d"] == ops["LceBconv2d"] == 1
    dense_bytes = 4 * m.get_layer("head").kernel.numpy().size
    assert 0.7 * dense_bytes < len(fb) - len(small) < 0.8 * dense_bytes  # 4 bytes a weight to 1; the conv stays
    want, got = LceModel(fb).predict(x), LceModel(small).predict(x)
    (name,) = want
    err = np.abs(got[name] - want[name]).max() / np.abs(want[name]).max()
    assert 0 < err < 2e-2  # rounding of the dense kernel, nothing else
    # a DEQUANTIZE of a stored tensor runs once, when the interpreter is prepared: no cost per call
    assert estimate.estimate(small)["ms"] == pytest.approx(estimate.estimate(fb)["ms"])
    # the float conv's weights are rounded only when asked; below min_elements nothing is stored as int8
    conv_too = flatbuffer.inspect(weights.compact(fb, lossy_ops=("FULLY_CONNECTED", "CONV_2D")))
    assert conv_too["op_counts"]["DEQUANTIZE"] == 2
    assert "DEQUANTIZE" not in flatbuffer.inspect(weights.compact(fb, min_elements=10**9))["op_counts"]


@pytest.mark.slow
def test_stock_tflite_runs_int8_weights_and_the_binary_weights_are_stored_exactly(tiny):
    from export import convert

    m, x = tiny
    fb = convert.to_portable(m)
    exact = weights.compact(fb, lossy_ops=())  # only the ±1 weights of the binary conv
    assert flatbuffer.inspect(exact)["op_counts"].get("DEQUANTIZE") == 1 and len(exact) < len(fb)

    def run(b):
        runner = tf.lite.Interpreter(model_content=b, num_threads=1).get_signature_runner()
        return next(iter(runner(**{m.input_names[0]: x[:1]}).values()))

    np.testing.assert_array_equal(run(exact), run(fb))  # lossless: the same numbers
    got, want = run(convert.to_portable(m, int8=weights.LOSSY_OPS)), run(fb)
    assert 0 < np.abs(got - want).max() < 2e-2 * np.abs(want).max()
