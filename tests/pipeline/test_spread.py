"""Spread over seeds: summaries, standard errors, the shipped seed and the combined report section."""

import math

import pytest

from pipeline import spread


def test_summary_is_mean_sample_sd_and_values():
    s = spread.summary([0.7, 0.8, 0.9])
    assert s["mean"] == pytest.approx(0.8) and s["sd"] == pytest.approx(0.1) and s["values"] == [0.7, 0.8, 0.9]
    assert spread.summary([0.5]) == {"mean": 0.5, "sd": 0.0, "values": [0.5], "n": 1}
    assert spread.summary([None, 0.5])["n"] == 1 and spread.summary([])["mean"] is None
    assert spread.fmt(s) == "0.800 ± 0.100 (n=3)" and spread.fmt(spread.summary([])) == "n/a"


def test_standard_error_of_an_accuracy():
    assert spread.standard_error(0.5, 100) == pytest.approx(0.05)
    assert spread.standard_error(0.75, 96) == pytest.approx(math.sqrt(0.75 * 0.25 / 96))
    assert spread.standard_error(1.0, 10) == 0.0 and spread.standard_error(None, 10) is None
    assert spread.standard_error(0.5, 0) is None


def _report(accs, cv):
    return {
        "data": {"test_clips": 96},
        "exits": [{"accuracy": a, "latency_ms": 1.0 + k, "embedding_cosine": 0.5} for k, a in enumerate(accs)],
        "early_exit_targets": {
            "within_1pct": {
                "threshold": 0.3,
                "accuracy": cv,
                "mean_latency_ms": 1.5,
                "cross_validated": {"accuracy": cv, "mean_latency_ms": 1.6},
            }
        },
    }


def test_combine_gives_every_figure_a_spread_and_ships_the_median_seed():
    reports = [_report([0.3, 0.9], 0.85), _report([0.4, 0.7], 0.7), _report([0.2, 0.8], 0.75)]
    c = spread.combine(reports, [5, 6, 7])
    assert c["seeds"] == [5, 6, 7] and c["test_clips"] == 96
    assert c["exits"][1]["accuracy"]["values"] == [0.9, 0.7, 0.8]
    assert c["exits"][0]["accuracy"]["mean"] == pytest.approx(0.3)
    cv = c["early_exit_targets"]["within_1pct"]["cross_validated"]["accuracy"]
    assert cv["values"] == [0.85, 0.7, 0.75] and cv["sd"] > 0
    assert c["shipped_seed"] == 7  # last-exit accuracies 0.9, 0.7, 0.8: the median is seed 7's
    assert "median" in c["shipped_rule"]
    # ties go to the lowest seed
    assert spread.combine([_report([0.5, 0.6], 0.6)] * 2, [1, 2])["shipped_seed"] == 1


def test_combine_spreads_the_baseline_and_the_float_twin_when_every_seed_has_them():
    reports = [_report([0.3, 0.9], 0.85), _report([0.4, 0.7], 0.7), _report([0.2, 0.8], 0.75)]
    for r, acc in zip(reports, (0.95, 0.85, 0.9)):
        r["baseline"] = {"name": "ds_cnn", "accuracy": acc, "float_accuracy": acc + 0.01, "latency_ms": 0.2}
        r["float_twin"] = {
            "exits": [{"accuracy": acc - 0.1, "latency_ms": 1.0}, {"accuracy": acc, "latency_ms": 2.0}],
            "binarization_gap": [{"float_minus_binary": 0.05}, {"float_minus_binary": acc - r["exits"][1]["accuracy"]}],
        }
    c = spread.combine(reports, [0, 1, 2])
    assert c["baseline"]["name"] == "ds_cnn" and c["baseline"]["accuracy"]["values"] == [0.95, 0.85, 0.9]
    assert c["baseline"]["float_accuracy"]["mean"] == pytest.approx(0.91)
    assert c["baseline"]["device_estimate_ms"]["n"] == 0  # not in these reports: an empty summary, not an error
    twin = c["float_twin"]["exits"]
    assert [e["index"] for e in twin] == [1, 2] and twin[1]["accuracy"]["mean"] == pytest.approx(0.9)
    assert twin[1]["float_minus_binary"]["values"] == pytest.approx([0.05, 0.15, 0.1])
    # a seed without a baseline (or a twin) leaves the section out rather than spreading fewer seeds
    del reports[1]["baseline"], reports[2]["float_twin"]
    c = spread.combine(reports, [0, 1, 2])
    assert "baseline" not in c and "float_twin" not in c
