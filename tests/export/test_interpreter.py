"""export.interpreter: LCE's interpreter runs the converted model as Keras does, and times it."""
import numpy as np
import pytest

from export import benchmark
from export.interpreter import LceModel

# LCE's binary kernels compute the same integer dot products as Keras' ±1 convs; the float
# front end and heads differ only by float rounding order.
ATOL_PROBS = 1e-4
RTOL_EMB = 1e-3


@pytest.mark.slow
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


@pytest.mark.slow
def test_latency_is_measured(model_and_fb):
    _, fb, x = model_and_fb
    ms = LceModel(fb).latency_ms(x, runs=5, warmup=1)
    assert 0 < ms < 10_000
