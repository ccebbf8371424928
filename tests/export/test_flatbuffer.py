"""export.flatbuffer: what a converted model is made of, and the check that every binary conv
became an LCE binary op."""

import larq as lq
import pytest
import tensorflow as tf

from export import convert, flatbuffer


@pytest.mark.slow
def test_binarization_check_names_a_conv_that_stayed_float():
    a = tf.keras.Input((8, 8, 32))
    y = lq.layers.QuantConv2D(
        32,
        3,
        padding="same",
        pad_values=1.0,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        name="good",
    )(a)
    y = lq.layers.QuantConv2D(
        32, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer=None, name="float_kernel"
    )(y)
    m = tf.keras.Model(a, y)
    fb = convert.to_lce(m)
    warnings = []
    assert flatbuffer.check_binarization(m, fb, warn=warnings.append) == ["float_kernel"]
    assert "float_kernel" in warnings[0] and "did NOT become LceBconv2d" in warnings[0]
    info = flatbuffer.inspect(fb)
    assert info["op_counts"]["LceBconv2d"] == 1 and info["op_counts"]["CONV_2D"] == 1
    # same shapes: the binary conv and the float conv do the same number of MACs
    assert info["binary_mac_fraction"] == pytest.approx(0.5)
    # what the file is made of: the float kernel's 32x3x3x32 float32 weights, the binary one's bit-packed
    stored = info["constant_bytes"]
    assert stored["CONV_2D"] >= 32 * 3 * 3 * 32 * 4
    assert 32 * 3 * 3 * 4 <= stored["LceBconv2d"] < stored["CONV_2D"] / 8
    assert sum(stored.values()) < info["bytes"]
