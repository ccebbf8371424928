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
