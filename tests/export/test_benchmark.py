"""export.benchmark: Keras-vs-LCE parity, the lce_benchmark_model output parser, the Raspberry Pi
script and `brillsson benchmark` here and on a device — on a tiny model exported by the tests."""

import json
import os

import pytest

from export import benchmark
from export.layout import Layout
from helpers import read_bytes as _read
from pipeline import cli


@pytest.mark.slow
def test_parity_reports_difference_and_agreement(exported):
    m, _, files, x = exported
    p = benchmark.parity(m, _read(files.model), x)  # the classifier: every exit's probabilities, nothing else
    assert set(p["per_output"]) == {f"exit{k}_probs" for k in (1, 2, 3)}
    assert p["max_abs_diff"] == max(p["per_output"].values()) and p["max_abs_diff"] < 1e-2
    assert p["top1_agreement"] == 1.0
    assert p["min_cosine"] is None
    e = benchmark.parity(m, _read(files.embedding), x)  # the embedding model (full-rank heads here, int8 weights)
    assert set(e["per_output"]) == {f"exit{k}_embedding" for k in (1, 2, 3)}
    assert 0.99 < e["min_cosine"] < 1.0 + 1e-6 and e["top1_agreement"] is None


REAL_OUTPUTS = {
    "plain": """STARTING!
Graph: [exits/exit_1.tflite]
The input model file size (MB): 1.21773
Initialized session in 2.345ms.
count=50 first=5012 curr=4431 min=4380 max=5012 avg=4450.2 std=90
Inference timings in us: Init: 2345, First inference: 5012, Warmup (avg): 4612.5, Inference (avg): 4450.2
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
Memory footprint delta from the start of the tool (MB): init=3.02734 overall=4.5
""",  # noqa: E501 (real tool output, verbatim)
    "info": """INFO: STARTING!
INFO: count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798
INFO: Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, Inference (avg): 2.95034e+06
INFO: Memory footprint delta from the start of the tool (MB): init=4.21094 overall=46.0859
INFO: Overall peak memory footprint (MB) via periodic monitoring: 48.5
""",  # noqa: E501 (real tool output, verbatim)
    "logcat": """07-08 15:34:26.202 I/tflite  ( 5395): Inference timings in us: Init: 92318, First inference: 187533, Warmup (avg): 211669, Inference (avg): 145528
07-08 15:34:26.202 I/tflite  ( 5395): Memory footprint delta from the start of the tool (MB): init=286.73 overall=337
""",  # noqa: E501 (real tool output, verbatim)
}


def test_benchmark_parser_reads_real_output_formats():
    p = benchmark.parse_lce_benchmark(REAL_OUTPUTS["plain"])
    assert p["inference_avg_us"] == 4450.2 and p["latency_ms"] == pytest.approx(4.4502)
    assert (p["memory_init_mb"], p["memory_overall_mb"]) == (3.02734, 4.5)
    q = benchmark.parse_lce_benchmark(REAL_OUTPUTS["info"])
    assert q["inference_avg_us"] == 2.95034e6 and q["warmup_avg_us"] == 3.51239e6 and q["memory_peak_mb"] == 48.5
    r = benchmark.parse_lce_benchmark(REAL_OUTPUTS["logcat"])
    assert r["init_us"] == 92318 and r["memory_overall_mb"] == 337
    with pytest.raises(ValueError, match="Inference timings"):
        benchmark.parse_lce_benchmark("ERROR: Could not open 'exit_1.tflite'.")


@pytest.mark.slow
def test_pi_script_output_is_parsed_and_merged_into_the_report(exported, tmp_path):
    _, out, _, _ = exported
    script = benchmark.write_pi_script(Layout(out))
    text = open(script).read()
    assert "exits/exit_1.tflite" in text and "stages/stage_3.tflite" in text and "--num_threads=1" in text
    saved = (
        "=== FILE: exits/exit_1.tflite\n"
        + REAL_OUTPUTS["info"]
        + "=== FILE: stages/stage_1.tflite\nbenchmark failed for stages/stage_1.tflite\n"
    )
    (tmp_path / "pi.txt").write_text(saved)
    figs = cli.call(["benchmark", out, "--parse", str(tmp_path / "pi.txt"), "--device-name", "Raspberry Pi 4"])
    assert figs["exits/exit_1.tflite"]["inference_avg_us"] == 2.95034e6 and "error" in figs["stages/stage_1.tflite"]
    report = json.load(open(os.path.join(out, "report.json")))
    assert report["lce_benchmark"]["Raspberry Pi 4"]["exits/exit_1.tflite"]["latency_ms"] == pytest.approx(2950.34)


@pytest.mark.slow
def test_benchmark_cli_times_every_exit_and_stage(exported):
    _, out, _, _ = exported
    figs = cli.call(["benchmark", out, "--runs", "3"])
    assert len(figs["exits_ms"]) == 3 and len(figs["stages_ms"]) == 3
    assert all(v > 0 for v in figs["exits_ms"] + figs["stages_ms"])
    assert figs["exit_over_last_exit"][-1] == 1.0


@pytest.mark.slow
def test_lce_benchmark_runs_the_binary_on_every_file_and_merges(exported, tmp_path, monkeypatch):
    """The plumbing around lce_benchmark_model (script, paths, parsing, report), with a stand-in
    executable that prints the real tool's output format; the real binary is not on PyPI."""
    _, out, _, _ = exported
    fake = tmp_path / "bin" / "lce_benchmark_model"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\ncase "$1" in --graph=*) test -f "${1#--graph=}" || exit 3;; *) exit 2;; esac\n'
        'echo "INFO: Graph: [${1#--graph=}]"\n'
        'echo "INFO: Inference timings in us: Init: 1000, First inference: 900, Warmup (avg): 800, '
        'Inference (avg): 700"\n'
    )
    fake.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    figs = cli.call(["benchmark", out, "--lce-benchmark", "bin/lce_benchmark_model", "--device-name", "x86 stand-in"])
    assert sorted(figs) == sorted(benchmark.device_files(Layout(out))) and len(figs) == 6
    assert all(v["inference_avg_us"] == 700 for v in figs.values())
