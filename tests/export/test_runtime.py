"""export.runtime: the early-exit runtime on the staged segments, and its entropy and decision rule."""

import numpy as np
import pytest

from export import runtime
from export.interpreter import LceModel
from helpers import read_bytes as _read


@pytest.mark.slow
def test_runtime_decisions_match_a_direct_computation(exported):
    _, out, files, x = exported
    full = LceModel(_read(files.model)).predict(x)
    for threshold in (0.0, 0.3, 0.7, 1.0):
        rt = runtime.EarlyExitRuntime(out, threshold=threshold)
        for i in range(len(x)):
            got = rt.classify(x[i])
            probs = [full[f"exit{k}_probs"][i] for k in (1, 2, 3)]
            want = runtime.decide(probs, threshold)
            assert got["exit"] == want["exit"] and got["label_index"] == want["label"]
            assert len(got["entropies"]) == got["exit"] and got["latency_ms"] > 0
            for h, p in zip(got["entropies"], probs):
                assert h == pytest.approx(-np.sum(p * np.log(np.maximum(p, 1e-30))) / np.log(3), abs=1e-5)
    assert runtime.EarlyExitRuntime(out).threshold == 0.4  # from thresholds.json


def test_entropy_edge_cases():
    assert runtime.normalized_entropy([1.0, 0.0, 0.0]) == 0.0
    assert runtime.normalized_entropy([0.25] * 4) == pytest.approx(1.0)
    assert runtime.normalized_entropy([1.0]) == 0.0
    assert runtime.decide([[0.5, 0.5], [0.9, 0.1]], 0.99)["exit"] == 2  # last exit always answers
    assert runtime.decide([[0.0, 0.5, 0.5], [1, 0, 0]], 1.0) == {
        "exit": 1,
        "label": 1,
        "probability": 0.5,
        "entropies": [pytest.approx(np.log(2) / np.log(3))],
    }
