"""models.baselines and export.convert.to_int8: the int8 DS-CNN a user would pick instead."""

import numpy as np
import pytest

from export import convert, estimate, flatbuffer
from export.benchmark import float_predict
from helpers import CLIP, tone_clip
from models import baselines
from models.errors import ConfigError
from models.frontend import FRONTEND_KINDS, LogMel


def test_ds_cnn_is_the_small_kws_recipe_on_the_students_front_end():
    m = baselines.build("ds_cnn", num_classes=3, clip_samples=CLIP, frontend={"kind": "gabor", "frame_step": 320})
    assert m.get_layer("log_mel").kind == "gabor" and m.get_layer("log_mel").params["frame_step"] == 320
    assert m.get_layer("ds_conv").kernel_size == (10, 4) and m.get_layer("ds_conv").strides == (2, 2)
    assert sum(layer.name.endswith("_dw") for layer in m.layers) == 4 and m.output_shape == (None, 3)
    with pytest.raises(ConfigError, match="unknown baseline 'resnet'"):
        baselines.build("resnet")


@pytest.mark.slow
def test_int8_conversion_keeps_the_decisions_and_runs_on_stock_tflite():
    import tensorflow as tf

    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate([300, 900, 2500] * 8)])
    y = np.arange(len(x)) % 3
    # trained a little, so the decisions have margins: an untrained network's near-uniform outputs flip
    # their argmax on any rounding, and which way depended on what the process drew before this test
    tf.keras.utils.set_random_seed(0)
    m = baselines.build("ds_cnn", num_classes=3, clip_samples=CLIP, spec_augment=False)
    m.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    m.fit(x, y, batch_size=8, epochs=5, verbose=0)  # also moves the batch-norm statistics off their initial values
    fb = convert.to_int8(m, x)
    info = flatbuffer.inspect(fb)
    assert any(op["int8"] and op["op"] == "CONV_2D" for op in info["ops"])  # quantized, not float
    assert "LceBconv2d" not in info["op_counts"]
    probs = next(iter(float_predict(fb, x).values()))
    want = m(x, training=False).numpy()
    assert probs.shape == want.shape and np.abs(probs - want).max() < 0.15
    assert np.mean(np.argmax(probs, 1) == np.argmax(want, 1)) >= 0.8
    # every shape static (batch 1), so the device estimate counts the real MACs: int8 GEMMs at the int8 rate
    e = estimate.estimate(fb)
    assert e["parts_ms"]["float"] > 0 and info["total_macs"] > 1e5


@pytest.mark.slow
@pytest.mark.parametrize("kind", FRONTEND_KINDS)
def test_int8_conversion_keeps_quiet_bands_of_the_front_end(kind):
    """Band energies span 60 dB and more: int8 would round every quiet band to zero (log -13.8), so
    `to_int8` keeps the front end float (the network after it int8) and stores its filters as float16."""
    import tensorflow as tf

    audio = tf.keras.Input((CLIP,))
    m = tf.keras.Model(audio, LogMel(num_mel_bins=16, kind=kind, name="log_mel")(audio))
    # loud and quiet clips (40 dB apart) and one whose upper bands are quiet: ranges set on all of them
    x = np.stack(
        [
            a * tone_clip(f, seconds=CLIP / 16000, seed=i)
            for i, (a, f) in enumerate([(1.0, 300), (0.01, 300), (1.0, 2500), (0.01, 2500), (0.3, 900), (0.003, 900)])
        ]
    )
    fb = convert.to_int8(m, x)
    got = next(iter(float_predict(fb, x).values()))
    want = m(x).numpy()
    # the front end's output quantized once, to int8's steps over its range (int8 energies: off by nats)
    assert np.abs(got - want).max() < 0.1, np.abs(got - want).max()
    info = flatbuffer.inspect(fb)
    assert any(op["op"] == "LOG" and not op["int8"] for op in info["ops"])
    if kind in ("dft", "gabor"):  # one bank on the float16 grid (LogMel's default), large enough to store as float16
        assert info["constant_bytes"].get("DEQUANTIZE/FLOAT16", 0) > 0, info["constant_bytes"]
