"""export.estimate: a device's latency estimated from a converted model's ops and MACs."""

import numpy as np
import pytest
import tensorflow as tf

from export import convert, estimate, flatbuffer
from helpers import CLIP
from models.frontend import LogMel


def _front_end(kind):
    audio = tf.keras.Input((CLIP,))
    # LCE's converter fixes the batch at 1, so every shape (and MAC count) is static
    return convert.to_lce(tf.keras.Model(audio, LogMel(kind=kind, num_mel_bins=40)(audio)))


def test_parts_add_up_and_follow_the_macs_and_rates():
    stft, gabor = _front_end("stft"), _front_end("gabor")
    e = estimate.estimate(stft, "rpi4")
    assert e["ms"] == pytest.approx(sum(e["parts_ms"].values())) and e["ms"] > 0
    assert e["parts_ms"]["fft"] > 0 and e["parts_ms"]["binary"] == 0
    g = estimate.estimate(gabor, "rpi4")
    assert g["parts_ms"]["fft"] == 0
    conv_macs = sum(op["macs"] for op in flatbuffer.inspect(gabor)["ops"] if op["op"] == "CONV_2D")
    d = estimate.RASPBERRY_PI_4
    assert g["parts_ms"]["float"] == pytest.approx(conv_macs / (d.float_macs_per_cycle * d.clock_hz) * 1e3)
    # a device twice as fast at float GEMMs halves that part and nothing else
    fast = estimate.Device(**{**d.rates(), "name": "fast", "float_macs_per_cycle": 2 * d.float_macs_per_cycle})
    g2 = estimate.estimate(gabor, fast)
    assert g2["parts_ms"]["float"] == pytest.approx(g["parts_ms"]["float"] / 2)
    assert g2["parts_ms"]["transcendental"] == pytest.approx(g["parts_ms"]["transcendental"])
    with pytest.raises(KeyError, match="unknown device"):
        estimate.estimate(gabor, "pdp11")


def test_rfft_macs_are_counted():
    info = flatbuffer.inspect(_front_end("stft"))
    frames = 1 + (CLIP - 400) // 160
    assert info["macs"]["RFFT2D"] == frames * 512 * 9


@pytest.mark.slow
def test_binary_stages_estimate_their_binary_convolutions(exported):
    _, _, files, _ = exported
    est = [estimate.estimate(open(p, "rb").read()) for p in files.stages]
    for p, e in zip(files.stages, est):
        binary = flatbuffer.inspect(open(p, "rb").read())["binary_macs"]
        d = estimate.RASPBERRY_PI_4
        assert binary > 0
        np.testing.assert_allclose(e["parts_ms"]["binary"], binary / (d.binary_macs_per_cycle * d.clock_hz) * 1e3)
