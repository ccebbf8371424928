import numpy as np
import pytest

from export import benchmark, convert, flatbuffer
from export.interpreter import LceModel
from models import students
from helpers import tone_clip

CLIP = 4000
# LCE's binary kernels compute the same integer dot products as Keras' ±1 convs; the float
# front end and heads differ only by float rounding order.
ATOL_PROBS = 1e-4
RTOL_EMB = 1e-3


@pytest.fixture(scope="module")
def model_and_fb():
    m = students.build("quicknet", num_classes=4, embedding_dim=48, exits=3, clip_samples=CLIP, width=16)
    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate([200, 700, 1500, 3000] * 2)])
    m(x, training=True)  # non-trivial batch-norm statistics
    return m, convert.to_lce(m), x


def test_conversion_binarizes_every_quantconv(model_and_fb):
    m, fb, _ = model_and_fb
    info = flatbuffer.inspect(fb)
    assert info["op_counts"].get("LceBconv2d", 0) == 6
    assert info["binary_macs"] > 0 and 0 < info["binary_mac_fraction"] < 1


def test_lce_interpreter_matches_keras(model_and_fb):
    m, fb, x = model_and_fb
    lce_out = LceModel(fb).predict(x)
    keras_out = m.predict(x, verbose=0)
    assert set(lce_out) == set(keras_out)
    for name, v in lce_out.items():
        ref = keras_out[name]
        if name.endswith("_probs"):
            np.testing.assert_allclose(v, ref, atol=ATOL_PROBS)
        else:
            np.testing.assert_allclose(v, ref, rtol=RTOL_EMB, atol=RTOL_EMB * np.abs(ref).max())
    p = benchmark.parity(m, fb, x)
    assert p["max_abs_diff"] < 1e-2 and p["top1_agreement"] == 1.0


def test_exit_subgraph_holds_only_its_exit(model_and_fb, tmp_path):
    m, _, x = model_and_fb
    fb1 = convert.to_lce(convert.exit_model(m, 1))
    assert sorted(flatbuffer.output_order(fb1)) == ["exit1_embedding", "exit1_probs"]
    # exit 1 sits after the first section: its graph has fewer binary convs than the full model
    assert flatbuffer.inspect(fb1)["op_counts"]["LceBconv2d"] == 2
    np.testing.assert_allclose(LceModel(fb1).predict(x)["exit1_probs"],
                               m.predict(x, verbose=0)["exit1_probs"], atol=ATOL_PROBS)


def test_latency_is_measured(model_and_fb):
    _, fb, x = model_and_fb
    ms = LceModel(fb).latency_ms(x, runs=5, warmup=1)
    assert 0 < ms < 10_000
