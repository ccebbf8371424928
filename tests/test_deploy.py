"""Export for devices: staged segments, portable model, binarization check, benchmark parser,
early-exit runtime and calibration — on a tiny model the test trains and exports itself."""
import json
import os

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from export import benchmark, convert, flatbuffer, runtime, vectors
from export.interpreter import LceModel
from export.layout import Layout
from models import students
from pipeline import calibrate, cli
from helpers import tone_clip, write_wav

CLIP = 4000
ATOL = 1e-4  # same flatbuffer ops on the same inputs: only float rounding differs


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("deploy"))
    m = students.build("quicknet", num_classes=3, embedding_dim=16, exits=3, clip_samples=CLIP, width=16)
    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate([300, 900, 2500] * 4)])
    m(x, training=True)
    files = convert.export_all(m, out, progress=lambda s: None)
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("low\nmid\nhigh\n")
    th = {"within_1pct": {"threshold": 0.4, "accuracy": 1.0, "mean_latency_ms": 1.0, "description": "t"}}
    calibrate.write_thresholds(Layout(out), th, 3, CLIP)
    return m, out, files, x


def _read(p):
    with open(p, "rb") as f:
        return f.read()


def test_all_design_files_exist(exported):
    _, out, files, _ = exported
    for rel in ("model.tflite", "model_portable.tflite", "labels.txt", "thresholds.json",
                *[f"exits/exit_{k}.tflite" for k in (1, 2, 3)], *[f"stages/stage_{k}.tflite" for k in (1, 2, 3)],
                *[f"stages_portable/stage_{k}.tflite" for k in (1, 2, 3)]):
        assert os.path.getsize(os.path.join(out, rel)) > 0, rel


def test_chained_stages_reproduce_every_exit_of_the_full_model(exported):
    _, out, files, x = exported
    full = LceModel(_read(files.model)).predict(x)
    act = x
    for k, path in enumerate(files.stages, 1):
        st = LceModel(_read(path))
        res = st.predict(act)
        np.testing.assert_allclose(res[f"exit{k}_probs"], full[f"exit{k}_probs"], atol=ATOL)
        act = res.get("activation")
        assert (act is None) == (k == 3)
    # a stage after the first takes the activation, not audio, and holds only its own blocks
    assert LceModel(_read(files.stages[1])).interpreter.input_shapes[0][-1] == 16
    assert flatbuffer.inspect(_read(files.stages[1]))["op_counts"]["LceBconv2d"] == 2


def test_portable_model_runs_on_stock_tflite_without_custom_ops(exported):
    _, out, files, x = exported
    fb = _read(files.portable)
    ops = flatbuffer.inspect(fb)["op_counts"]
    assert not any(op.startswith("Lce") for op in ops) and "SIGN" in ops
    it = tf.lite.Interpreter(model_content=fb, num_threads=1)
    runner = it.get_signature_runner()
    got = runner(audio=x[:1])
    ref = LceModel(_read(files.model)).predict(x[:1])
    for k in (1, 2, 3):
        np.testing.assert_allclose(got[f"exit{k}_probs"], ref[f"exit{k}_probs"], atol=1e-3)


def test_parity_reports_difference_and_agreement(exported):
    m, _, files, x = exported
    p = benchmark.parity(m, _read(files.model), x)
    assert set(p["per_output"]) == {f"exit{k}_{s}" for k in (1, 2, 3) for s in ("embedding", "probs")}
    assert p["max_abs_diff"] == max(p["per_output"].values()) and p["max_abs_diff"] < 1e-2
    assert p["top1_agreement"] == 1.0


def test_binarization_check_names_a_conv_that_stayed_float():
    a = tf.keras.Input((8, 8, 32))
    y = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign",
                              kernel_quantizer="ste_sign", kernel_constraint="weight_clip", name="good")(a)
    y = lq.layers.QuantConv2D(32, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer=None,
                              name="float_kernel")(y)
    m = tf.keras.Model(a, y)
    fb = convert.to_lce(m)
    warnings = []
    assert flatbuffer.check_binarization(m, fb, warn=warnings.append) == ["float_kernel"]
    assert "float_kernel" in warnings[0] and "did NOT become LceBconv2d" in warnings[0]
    info = flatbuffer.inspect(fb)
    assert info["op_counts"]["LceBconv2d"] == 1 and info["op_counts"]["CONV_2D"] == 1
    # same shapes: the binary conv and the float conv do the same number of MACs
    assert info["binary_mac_fraction"] == pytest.approx(0.5)


REAL_OUTPUTS = {
    "plain": """STARTING!
Graph: [exits/exit_1.tflite]
The input model file size (MB): 1.21773
Initialized session in 2.345ms.
count=50 first=5012 curr=4431 min=4380 max=5012 avg=4450.2 std=90
Inference timings in us: Init: 2345, First inference: 5012, Warmup (avg): 4612.5, Inference (avg): 4450.2
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
Memory footprint delta from the start of the tool (MB): init=3.02734 overall=4.5
""",
    "info": """INFO: STARTING!
INFO: count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798
INFO: Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, Inference (avg): 2.95034e+06
INFO: Memory footprint delta from the start of the tool (MB): init=4.21094 overall=46.0859
INFO: Overall peak memory footprint (MB) via periodic monitoring: 48.5
""",
    "logcat": """07-08 15:34:26.202 I/tflite  ( 5395): Inference timings in us: Init: 92318, First inference: 187533, Warmup (avg): 211669, Inference (avg): 145528
07-08 15:34:26.202 I/tflite  ( 5395): Memory footprint delta from the start of the tool (MB): init=286.73 overall=337
""",
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


def test_pi_script_output_is_parsed_and_merged_into_the_report(exported, tmp_path):
    _, out, _, _ = exported
    script = benchmark.write_pi_script(Layout(out))
    text = open(script).read()
    assert "exits/exit_1.tflite" in text and "stages/stage_3.tflite" in text and "--num_threads=1" in text
    saved = ("=== FILE: exits/exit_1.tflite\n" + REAL_OUTPUTS["info"]
             + "=== FILE: stages/stage_1.tflite\nbenchmark failed for stages/stage_1.tflite\n")
    (tmp_path / "pi.txt").write_text(saved)
    figs = cli.main(["benchmark", out, "--parse", str(tmp_path / "pi.txt"), "--device", "Raspberry Pi 4"])
    assert figs["exits/exit_1.tflite"]["inference_avg_us"] == 2.95034e6 and "error" in figs["stages/stage_1.tflite"]
    report = json.load(open(os.path.join(out, "report.json")))
    assert report["lce_benchmark"]["Raspberry Pi 4"]["exits/exit_1.tflite"]["latency_ms"] == pytest.approx(2950.34)


def test_benchmark_cli_times_every_exit_and_stage(exported):
    _, out, _, _ = exported
    figs = cli.main(["benchmark", out, "--runs", "3"])
    assert len(figs["exits_ms"]) == 3 and len(figs["stages_ms"]) == 3
    assert all(v > 0 for v in figs["exits_ms"] + figs["stages_ms"])
    assert figs["exit_over_last_exit"][-1] == 1.0


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


def test_runtime_cli_prints_the_answer(exported, tmp_path, capsys):
    _, out, _, _ = exported
    clip = write_wav(tmp_path / "c.wav", tone_clip(900, seconds=0.3))
    r = cli.main(["classify", out, clip, "--threshold", "0.3"])
    printed = capsys.readouterr().out
    assert f"label: {r['label']}" in printed and r["label"] in ("low", "mid", "high")
    assert f"exit: {r['exit']}/3" in printed


def test_entropy_edge_cases():
    assert runtime.normalized_entropy([1.0, 0.0, 0.0]) == 0.0
    assert runtime.normalized_entropy([0.25] * 4) == pytest.approx(1.0)
    assert runtime.normalized_entropy([1.0]) == 0.0
    assert runtime.decide([[0.5, 0.5], [0.9, 0.1]], 0.99)["exit"] == 2  # last exit always answers
    assert runtime.decide([[0.0, 0.5, 0.5], [1, 0, 0]], 1.0) == {
        "exit": 1, "label": 1, "probability": 0.5, "entropies": [pytest.approx(np.log(2) / np.log(3))]}


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


def test_thresholds_file_has_what_the_app_reads(exported):
    _, out, _, _ = exported
    t = json.load(open(os.path.join(out, "thresholds.json")))
    assert t["targets"][t["default"]]["threshold"] == 0.4 and t["clip_samples"] == CLIP and t["num_exits"] == 3


def test_shared_vectors_agree_with_the_python_runtime(exported, tmp_path):
    here = os.path.dirname(__file__)
    committed = os.path.join(here, "..", "android_demo", "app", "src", "test", "resources", "early_exit_vectors.json")
    data = json.load(open(committed))
    assert data["version"] == vectors.VERSION and len(data["decision_cases"]) > 20
    assert vectors.check(data) == []
    data["decision_cases"][0]["exit"] = 3 - data["decision_cases"][0]["exit"] % 3
    assert vectors.check(data) == ["decision_cases[0]"]
    # vectors from a real model's probabilities
    m, out, files, x = exported
    full = LceModel(_read(files.model)).predict(x)
    path = vectors.write(str(tmp_path / "v.json"), [full[f"exit{k}_probs"] for k in (1, 2, 3)])
    assert vectors.check(json.load(open(path))) == []


def test_lce_benchmark_runs_the_binary_on_every_file_and_merges(exported, tmp_path, monkeypatch):
    """The plumbing around lce_benchmark_model (script, paths, parsing, report), with a stand-in
    executable that prints the real tool's output format; the real binary is not on PyPI."""
    _, out, _, _ = exported
    fake = tmp_path / "bin" / "lce_benchmark_model"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\ncase "$1" in --graph=*) test -f "${1#--graph=}" || exit 3;; *) exit 2;; esac\n'
                    'echo "INFO: Graph: [${1#--graph=}]"\n'
                    'echo "INFO: Inference timings in us: Init: 1000, First inference: 900, Warmup (avg): 800, '
                    'Inference (avg): 700"\n')
    fake.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    figs = cli.main(["benchmark", out, "--lce-benchmark", "bin/lce_benchmark_model", "--device", "x86 stand-in"])
    assert sorted(figs) == sorted(benchmark.device_files(Layout(out))) and len(figs) == 6
    assert all(v["inference_avg_us"] == 700 for v in figs.values())
