"""The whole pipeline as a user runs it, on a tiny task the test makes."""
import json
import os

from export import flatbuffer
from pipeline import config, run


def test_run_end_to_end_then_resume(task_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--data", task_dir, "--teacher", "stand-in", "--clip-seconds", "0.5", "--epochs", "2",
            "--head-epochs", "2", "--width", "16", "--out", str(out), "--quiet"]
    r = run.main(argv)
    printed = capsys.readouterr().out
    assert "STAND-IN teacher" in printed and str(out) in printed

    for name in ("model.tflite", "exits/exit_1.tflite", "exits/exit_2.tflite", "exits/exit_3.tflite",
                 "labels.txt", "report.json", "report.md", "tradeoff.png", "teacher/saved_model.pb"):
        assert (out / name).exists(), name
    with open(out / "model.tflite", "rb") as f:
        assert flatbuffer.inspect(f.read())["op_counts"]["LceBconv2d"] == 6
    report = json.loads((out / "report.json").read_text())
    assert report["teacher"]["stand_in"] is True
    assert report["teacher"]["handle"] == str(out / "teacher")
    assert report["teacher"]["clips_embedded"] == 24 and report["teacher"]["cache_hits"] == 0
    assert report["data"]["labels"] == ["high", "low", "mid"] == (out / "labels.txt").read_text().split()
    assert report["model"]["bytes"] == os.path.getsize(out / "model.tflite")
    assert [e["index"] for e in report["exits"]] == [1, 2, 3]
    assert all(0.0 <= e["accuracy"] <= 1.0 and e["latency_ms"] > 0 for e in report["exits"])
    # sign flips near zero can move a binary net's outputs; its decisions must agree
    assert report["parity"]["top1_agreement"] >= 0.9 and report["parity"]["max_abs_diff"] < 1.0
    for rel in ("stages/stage_3.tflite", "model_portable.tflite", "thresholds.json", "float_reference.tflite",
                "pi/run_benchmark.sh", "early_exit_vectors.json"):
        assert (out / rel).exists(), rel
    assert report["float_reference"]["latency_ms"] > 0 and len(report["stages"]) == 3
    assert set(report["early_exit_targets"]) == {"within_1pct", "fastest_95pct"}
    assert report["early_exit"] and all(sum(p["exit_histogram"]) == 6 for p in report["early_exit"])
    assert report["model"]["not_binarized"] == []

    again = run.main(argv)  # same --out: teacher cache and trained weights are reused
    assert again["teacher"]["clips_embedded"] == 0 and again["teacher"]["cache_hits"] == 24
    assert again["teacher"]["teacher_calls"] == 0
    assert "reusing trained weights" in capsys.readouterr().out
    assert [e["accuracy"] for e in again["exits"]] == [e["accuracy"] for e in report["exits"]]


def test_config_file_sets_flags(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 7\nclip-seconds: 0.5\n")
    args = config.from_argv(["--config", str(cfg), "--exits", "4"])
    assert (args.train.epochs, args.data.clip_seconds, args.student.exits) == (7, 0.5, 4)
    assert config.from_argv(["--config", str(cfg), "--epochs", "9"]).train.epochs == 9


def test_nothing_usable_exits_non_zero_with_message(tmp_path):
    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "data" / "a" / "x.wav").write_bytes(b"not audio")
    try:
        run.main(["--data", str(tmp_path / "data"), "--teacher", "stand-in", "--out", str(tmp_path / "o")])
    except SystemExit as e:
        assert "no usable training clips" in str(e.code)
    else:
        raise AssertionError("expected SystemExit")
