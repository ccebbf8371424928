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


def test_round_robin_times_each_in_turn():
    import time

    from export.interpreter import round_robin_ms

    calls = []
    ms = round_robin_ms(
        {"slow": lambda: (calls.append("slow"), time.sleep(0.003)), "fast": lambda: calls.append("fast")},
        runs=4,
        warmup=1,
    )
    assert calls == ["slow", "fast"] * 5  # one warm-up round, then 4 rounds, one call of each in turn
    assert ms["slow"] >= 3.0 > ms["fast"] >= 0.0
