"""pipeline.calibrate: entropy thresholds for early exit, and the thresholds.json the app reads."""

import json
import os

import numpy as np
import pytest

from export import runtime
from helpers import CLIP
from pipeline import calibrate


def test_calibration_picks_the_fastest_threshold_meeting_the_target():
    rng = np.random.default_rng(0)
    n = 200
    labels = rng.integers(0, 4, n)
    easy = rng.random(n) < 0.6

    def probs(conf, correct):
        p = np.full((n, 4), (1 - conf) / 3)
        p[np.arange(n), np.where(correct, labels, (labels + 1) % 4)] = conf
        return p

    # exit 1: confident and right on easy clips, unsure and wrong on hard ones; exit 2: always right
    p1 = np.where(easy[:, None], probs(0.97, True), probs(0.4, False))
    p2 = probs(0.9, True)
    stage_ms = [1.0, 3.0]
    sweep = calibrate.sweep([p1, p2], labels, stage_ms)
    assert sweep[0]["threshold"] == 0.0 and sweep[0]["exit_histogram"] == [0, n]
    chosen = calibrate.choose(sweep, last_accuracy=1.0)
    best = chosen["within_1pct"]
    assert best["accuracy"] == 1.0 and best["exit_histogram"] == [int(easy.sum()), n - int(easy.sum())]
    assert best["mean_latency_ms"] == pytest.approx(1.0 + 3.0 * (1 - easy.mean()))
    h_easy, h_hard = runtime.normalized_entropy(p1[easy][0]), runtime.normalized_entropy(p1[~easy][0])
    assert h_easy <= best["threshold"] < h_hard
    cv = calibrate.cross_validated([p1, p2], labels, stage_ms)
    assert cv["within_1pct"]["accuracy"] == 1.0
    per_class = calibrate.per_class_exit([p1, p2], labels, ["a", "b", "c", "d"], best["threshold"])
    assert all(1.0 <= v <= 2.0 for v in per_class.values())


@pytest.mark.slow
def test_thresholds_file_has_what_the_app_reads(exported):
    _, out, _, _ = exported
    t = json.load(open(os.path.join(out, "thresholds.json")))
    assert t["targets"][t["default"]]["threshold"] == 0.4 and t["clip_samples"] == CLIP and t["num_exits"] == 3


def test_temperature_is_recovered_from_clips_drawn_at_that_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 3
    true_t = 2.5  # the labels follow softmax(logits / 2.5): probabilities from the raw logits are overconfident

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    labels = np.array([rng.choice(5, p=p) for p in softmax(logits / true_t)])
    assert calibrate.fit_temperature(softmax(logits), labels) == pytest.approx(true_t, rel=0.1)
    assert calibrate.fit_temperature(softmax(logits / true_t), labels) == pytest.approx(1.0, rel=0.1)
    assert calibrate.fit_temperature(softmax(logits), labels[:0]) == 1.0
