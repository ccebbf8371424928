"""pipeline.tools.frontend_benchmark: every front end converted alone and timed side by side."""

import pytest

from pipeline.tools import frontend_benchmark


@pytest.mark.slow
def test_front_ends_are_converted_timed_and_compared_with_stft():
    rows = frontend_benchmark.measure(windows_ms=(25.0,), kinds=["dft", "gabor", "stft"], seconds=0.25, runs=3)
    by = {r["front_end"]: r for r in rows}
    assert by["stft"]["max_abs_diff_from_stft"] == 0.0
    assert by["dft"]["max_abs_diff_from_stft"] < 1e-3  # the same features, another op
    assert by["gabor"]["max_abs_diff_from_stft"] > 1.0  # other features
    assert "RFFT2D" in by["stft"]["ops"] and "RFFT2D" not in by["dft"]["ops"] and by["gabor"]["ops"]["CONV_2D"] == 1
    assert by["gabor"]["macs"] < by["dft"]["macs"]
    assert all(r["lce_ms"] > 0 and r["stock_ms"] > 0 and r["pi4_estimate_ms"] > 0 for r in rows)
    text = frontend_benchmark.markdown(rows)
    assert text.count("\n") == 2 + len(rows) and "| gabor | 400 / 512 |" in text
