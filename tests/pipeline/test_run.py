"""The whole pipeline as a user runs it (pipeline.run), on tiny tasks the tests make: end to end
and resumed, a folder salted with broken files, nothing usable, no network for the teacher."""

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from export import flatbuffer
from export.layout import Layout
from helpers import DEAD_PROXY, ROOT, tone_clip, write_wav
from pipeline import config, corpus, run, targets
from pipeline.spread import fmt


@pytest.mark.slow
def test_run_end_to_end_then_resume(task_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "--data",
        task_dir,
        "--teacher",
        "stand-in",
        "--clip-seconds",
        "0.5",
        "--epochs",
        "2",
        "--head-epochs",
        "2",
        "--baseline-epochs",
        "2",
        "--width",
        "16",
        "--out",
        str(out),
        "--quiet",
    ]
    run.call(argv)
    printed = capsys.readouterr().out
    assert "STAND-IN teacher" in printed and str(out) in printed

    for name in (
        "model.tflite",
        "exits/exit_1.tflite",
        "exits/exit_2.tflite",
        "exits/exit_3.tflite",
        "labels.txt",
        "report.json",
        "report.md",
        "tradeoff.png",
        "teacher/saved_model.pb",
    ):
        assert (out / name).exists(), name
    with open(out / "model.tflite", "rb") as f:
        assert flatbuffer.inspect(f.read())["op_counts"]["LceBconv2d"] == 7  # quicknet: 1 + 3 + 3 blocks
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
    for rel in (
        "stages/stage_3.tflite",
        "model_portable.tflite",
        "thresholds.json",
        "float_reference.tflite",
        "pi/run_benchmark.sh",
        "early_exit_vectors.json",
    ):
        assert (out / rel).exists(), rel
    assert report["float_reference"]["latency_ms"] > 0 and len(report["stages"]) == 3
    assert set(report["early_exit_targets"]) == {"within_1pct", "fastest_95pct"}
    assert report["early_exit"] and all(sum(p["exit_histogram"]) == 6 for p in report["early_exit"])
    assert report["model"]["not_binarized"] == []
    assert report["student"]["classifier_weights"] == "int8"  # rounded to the int8 grid, and scored so
    # the int8 baseline, trained on the same labels and timed with the exits
    base = report["baseline"]
    assert base["name"] == "ds_cnn" and base["latency_ms"] > 0 and 0.0 <= base["accuracy"] <= 1.0
    with open(out / base["path"], "rb") as f:
        ops = flatbuffer.inspect(f.read())
    assert "LceBconv2d" not in ops["op_counts"] and any(op["int8"] for op in ops["ops"]) and base["bytes"] > 0
    assert base["path"] in report["files"] and "Baseline: int8 ds_cnn" in (out / "report.md").read_text()
    # beside it the same network before quantization, so the report shows what int8 cost
    assert (out / base["float_path"]).exists() and 0.0 <= base["float_accuracy"] <= 1.0
    # what a Raspberry Pi would do, from op and MAC counts
    dev = report["device_estimate"]
    assert len(dev["stages_ms"]) == 3 and dev["exits_ms"] == sorted(dev["exits_ms"]) and dev["frontend_ms"] > 0
    assert dev["rates"]["clock_hz"] == 1.5e9 and "Raspberry Pi 4" in (out / "report.md").read_text()
    assert report["performance"]["frontend_clip_ms"] > 0
    assert {"front end (whole clip) / last exit", "exit 1 latency / last exit"} <= {
        t["target"] for t in report["targets"]
    }
    # a missed target says why, from this run's figures; what the classifier file is made of, always
    assert all(t["why"] for t in report["targets"] if not t["met"]) and not any(
        t["why"] for t in report["targets"] if t["met"]
    )
    assert "why not (this run's figures)" in (out / "report.md").read_text()

    # the Pareto tool reads the run back: its accuracies, and device latencies from the stage files
    from pipeline.tools import pareto

    rows = pareto.main([str(out), "--out", str(tmp_path / "pareto.png"), "--labels", "tiny"])
    assert (tmp_path / "pareto.png").exists() and (tmp_path / "pareto.md").read_text().count("| tiny |") == 1
    assert [e["accuracy"]["mean"] for e in rows[0]["exits"]] == [e["accuracy"] for e in report["exits"]]
    assert rows[0]["exits"][0]["device_ms"]["mean"] == pytest.approx(dev["exits_ms"][0])
    assert rows[0]["seeds"] == 1 and rows[0]["test_clips"] == 6

    again = run.call(argv)  # same --out: teacher cache and trained weights are reused
    assert again["teacher"]["clips_embedded"] == 0 and again["teacher"]["cache_hits"] == 24
    assert again["teacher"]["teacher_calls"] == 0
    assert "reusing trained weights" in capsys.readouterr().out
    assert [e["accuracy"] for e in again["exits"]] == [e["accuracy"] for e in report["exits"]]


def test_nothing_usable_exits_non_zero_with_message(tmp_path):
    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "data" / "a" / "x.wav").write_bytes(b"not audio")
    try:
        run.call(["--data", str(tmp_path / "data"), "--teacher", "stand-in", "--out", str(tmp_path / "o")])
    except SystemExit as e:
        assert "no usable training clips" in str(e.code)
    else:
        raise AssertionError("expected SystemExit")


def float_wav(path, x, sr=16000):
    data = np.asarray(x, "<f4").tobytes()
    fmt = struct.pack("<IHHIIHH", 16, 3, 1, sr, sr * 4, 4, 32)  # IEEE float
    with open(path, "wb") as f:
        f.write(
            b"RIFF"
            + struct.pack("<I", 36 + len(data))
            + b"WAVEfmt "
            + fmt
            + b"data"
            + struct.pack("<I", len(data))
            + data
        )
    return str(path)


def salted_folder(root):
    """Two labels of good clips (4 speakers each) plus one broken file of every kind; returns {path: reason}."""
    for label, f in (("low", 300.0), ("high", 2200.0)):
        for spk in ("ann", "bob", "cy", "dee"):
            for n in range(2):
                write_wav(root / label / f"{spk}_nohash_{n}.wav", tone_clip(f, seconds=0.5, seed=n + ord(spk[0])))
    write_wav(root / "solo" / "eve_nohash_0.wav", tone_clip(1000, seconds=0.5))  # a label with a single clip
    write_wav(root / "_background_noise_" / "hum.wav", np.sin(np.arange(24000) / 40.0) * 0.2)
    bad = {}
    p = root / "low" / "corrupt_nohash_0.wav"
    p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(200))
    bad[str(p)] = "cannot decode audio"
    p = root / "low" / "empty_nohash_0.wav"
    p.write_bytes(b"")
    bad[str(p)] = "empty"
    bad[write_wav(root / "low" / "silent_nohash_0.wav", np.zeros(8000, np.float32))] = "all zeros"
    x = tone_clip(300, seconds=0.5)
    x[100] = np.nan
    bad[float_wav(root / "high" / "nan_nohash_0.wav", x)] = "NaN or Inf"
    x[100] = np.inf
    bad[float_wav(root / "high" / "inf_nohash_0.wav", x)] = "NaN or Inf"
    p = root / "high" / "adpcm_nohash_0.wav"  # a WAV codec tensorflow-io does not read
    fmt = struct.pack("<IHHIIHH", 16, 2, 1, 16000, 8000, 256, 4)
    p.write_bytes(
        b"RIFF" + struct.pack("<I", 4036) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", 4000) + os.urandom(4000)
    )
    bad[str(p)] = "cannot decode audio"
    p = root / "high" / "lyrics_nohash_0.mp3"  # not audio, audio extension
    p.write_text("la la la\n" * 50)
    bad[str(p)] = "cannot decode audio"
    p = root / "high" / "notes.txt"  # not audio at all
    p.write_text("recorded on a Tuesday")
    bad[str(p)] = "not an audio file"
    p = root / "low" / "moved_nohash_0.wav"  # a link to a file that is gone
    os.symlink(root / "nowhere.wav", p)
    bad[str(p)] = "no such file"
    if os.geteuid() != 0:  # root reads a chmod-000 file anyway
        p = root / "low" / "locked_nohash_0.wav"
        write_wav(p, tone_clip(300))
        os.chmod(p, 0)
        bad[str(p)] = "not readable"
    return bad


@pytest.mark.slow
def test_salted_folder_runs_to_the_end_and_a_rerun_calls_no_teacher(stand_in_teacher, tmp_path, capsys):
    data = tmp_path / "data"
    bad = salted_folder(data)
    cache = str(tmp_path / "shared_cache")
    argv = [
        "--data",
        str(data),
        "--teacher",
        stand_in_teacher,
        "--teacher-cache",
        cache,
        "--clip-seconds",
        "0.5",
        "--epochs",
        "2",
        "--head-epochs",
        "1",
        "--fine-tune-epochs",
        "0",
        "--exits",
        "1",
        "--width",
        "8",
        "--runs",
        "2",
        "--quiet",
        "--out",
        str(tmp_path / "out"),
    ]
    r = run.call(argv)
    printed = capsys.readouterr().out
    skipped = {s["path"]: s["reason"] for s in r["data"]["skipped"]}
    assert set(skipped) == set(bad)
    for path, why in bad.items():
        assert why in skipped[path], (path, skipped[path])
    assert f"data: {len(bad)} files skipped: " in printed and "warning: label 'solo' has 1 clip" in printed
    assert "clips embedded" in printed and "clips/s, ETA" in printed  # teacher progress
    assert r["data"]["labels"] == ["high", "low", "solo"]
    good = 17
    t = r["teacher"]
    assert (t["clips_embedded"], t["cache_hits"], t["embedding_dim"]) == (good, 0, 64) and t["teacher_calls"] >= 1
    assert t["cache"] == cache and os.path.exists(os.path.join(cache, "manifest.json"))
    bench = t["benchmark"]  # the cache at work: distillation never calls the teacher
    assert bench["teacher_calls_after_first_pass"] == 0 and len(bench["epoch_seconds"]) == 2
    assert all(s > 0 for s in bench["epoch_seconds"])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["teacher"]["benchmark"] == bench and len(report["data"]["skipped"]) == len(bad)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Teacher benchmark" in md and "notes.txt" in md

    # a second run on the same folder with the same teacher (another --out, the shared cache)
    cfg = config.from_argv(argv[:-1] + [str(tmp_path / "out2")])
    again = corpus.load_corpus(cfg.data, seed=cfg.seed)
    again, goal = targets.teacher_targets(again, cfg, Layout(cfg.out_dir))
    info = goal.info
    assert (info["teacher_calls"], info["clips_embedded"], info["cache_hits"]) == (0, 0, good)
    assert goal.train.shape == (len(again.train), 64) and np.isfinite(goal.train).all()


def test_nothing_usable_left_exits_with_a_clear_message(tmp_path, capsys):
    for name, content in (("a.wav", b""), ("b.wav", b"RIFFjunk"), ("c.flac", b"fLaC" + bytes(30))):
        (tmp_path / "data" / "x").mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / "x" / name).write_bytes(content)
    with pytest.raises(SystemExit) as e:
        run.call(["--data", str(tmp_path / "data"), "--teacher", "stand-in", "--out", str(tmp_path / "o")])
    assert "no usable training clips" in str(e.value.code) and "3 files skipped" in str(e.value.code)
    printed = capsys.readouterr().out
    assert all(n in printed for n in ("a.wav", "b.wav", "c.flac"))


@pytest.mark.slow
def test_cli_without_network_prints_one_message_and_exits_non_zero(task_dir, tmp_path):
    env = {
        **os.environ,
        "https_proxy": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "TFHUB_CACHE_DIR": str(tmp_path / "hub"),
        "no_proxy": "",
        "NO_PROXY": "",
    }
    p = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "pipeline", "run.py"),
            "--data",
            task_dir,
            "--teacher",
            "trillsson3",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode != 0
    assert "error: could not load teacher 'https://tfhub.dev/google/trillsson3/1'" in p.stderr
    assert "--teacher PATH" in p.stderr and "TFHUB_CACHE_DIR" in p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert "decoding" not in p.stdout and "train /" not in p.stdout  # it failed before decoding the data
    assert f"[run] output folder: {tmp_path / 'out'}" in p.stdout  # the script's own log lines, as configured


def _weights(checkpoint):
    import h5py

    found = {}
    with h5py.File(checkpoint, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found


def _accuracies(r):
    t = r["early_exit_targets"]["within_1pct"]
    return (
        [e["accuracy"] for e in r["exits"]],
        [e["embedding_cosine"] for e in r["exits"]],
        t["accuracy"],
        t["cross_validated"]["accuracy"],
        t["threshold"],
        r["parity"]["top1_agreement"],
    )


@pytest.mark.slow
def test_same_seed_same_weights_and_figures_and_repeats_give_the_spread(task_dir, tmp_path):
    """Two trainings with --seed 0 (a run, and seed 0 of a --repeats run) end with identical weights and
    identical accuracy figures; seed 1 differs; --repeats reports every figure over the seeds."""
    argv = [
        "--data",
        task_dir,
        "--teacher",
        "stand-in",
        "--clip-seconds",
        "0.5",
        "--epochs",
        "3",
        "--head-epochs",
        "2",
        "--fine-tune-epochs",
        "1",
        "--width",
        "8",
        "--exits",
        "2",
        "--runs",
        "2",
        "--quiet",
    ]
    single = run.call(argv + ["--out", str(tmp_path / "single")])
    assert single["student"]["training_mode"] == "deterministic"
    assert "Training mode: **deterministic**" in (tmp_path / "single" / "report.md").read_text()
    rep = run.call(argv + ["--repeats", "2", "--out", str(tmp_path / "rep")])

    seed0 = json.loads((tmp_path / "rep" / "seeds" / "seed-0" / "report.json").read_text())
    seed1 = json.loads((tmp_path / "rep" / "seeds" / "seed-1" / "report.json").read_text())
    w_single, w0, w1 = (_weights(r["student"]["checkpoint"]) for r in (single, seed0, seed1))
    assert w_single.keys() == w0.keys() and all(np.array_equal(w_single[k], w0[k]) for k in w0)
    assert _accuracies(single) == _accuracies(seed0)
    assert any(not np.array_equal(w0[k], w1[k]) for k in w0)  # the seed matters

    spread = rep["repeats"]
    assert spread["seeds"] == [0, 1] and spread["test_clips"] == single["data"]["test_clips"]
    for k, e in enumerate(spread["exits"]):
        assert e["accuracy"]["values"] == [seed0["exits"][k]["accuracy"], seed1["exits"][k]["accuracy"]]
        assert e["accuracy"]["sd"] >= 0 and e["accuracy"]["n"] == 2
    cv = spread["early_exit_targets"]["within_1pct"]["cross_validated"]["accuracy"]
    assert cv["values"] == [
        s["early_exit_targets"]["within_1pct"]["cross_validated"]["accuracy"] for s in (seed0, seed1)
    ]
    base = spread["baseline"]  # the int8 baseline of every seed, spread as the exits are
    assert base["accuracy"]["values"] == [s["baseline"]["accuracy"] for s in (seed0, seed1)]
    shipped = seed0 if spread["shipped_seed"] == 0 else seed1
    assert rep["seed"] == spread["shipped_seed"] and rep["exits"] == shipped["exits"]
    assert (tmp_path / "rep" / "model.tflite").read_bytes() == (
        tmp_path / "rep" / "seeds" / f"seed-{spread['shipped_seed']}" / "model.tflite"
    ).read_bytes()
    assert rep["teacher"]["clips_embedded"] == single["teacher"]["clips_embedded"]  # embedded once for both seeds
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Spread over 2 seeds" in md and f"Shipped: seed {spread['shipped_seed']}" in md
    assert f"| int8 {base['name']} baseline | {fmt(base['accuracy'])}" in md
    assert all(
        e["test_clips"] == single["data"]["test_clips"] and e["accuracy_se"] is not None for e in single["exits"]
    )


@pytest.mark.slow
def test_float_twin_is_trained_timed_and_reported_beside_the_binary_exits(task_dir, tmp_path):
    out = tmp_path / "twin"
    argv = [
        "--data",
        task_dir,
        "--teacher",
        "stand-in",
        "--clip-seconds",
        "0.5",
        "--epochs",
        "2",
        "--head-epochs",
        "2",
        "--fine-tune-epochs",
        "1",
        "--width",
        "16",
        "--out",
        str(out),
        "--quiet",
        "--float-twin",
        "--runs",
        "3",
        "--eval-tasks",
        task_dir,
        "--curve-every",
        "1",
    ]
    r = run.call(argv)
    ft = r["float_twin"]
    assert [t["index"] for t in ft["exits"]] == [1, 2, 3] and len(ft["binarization_gap"]) == 3
    for t, e, g in zip(ft["exits"], r["exits"], ft["binarization_gap"]):
        assert (out / t["path"]).exists() and t["path"] == f"float_twin/exit_{t['index']}.tflite"
        assert t["latency_ms"] > 0 and t["test_clips"] == e["test_clips"]
        assert g["float_minus_binary"] == pytest.approx(t["accuracy"] - e["accuracy"])
        with open(out / t["path"], "rb") as f:
            ops = flatbuffer.inspect(f.read())["op_counts"]
        assert not any(op.startswith("Lce") for op in ops) and "SIGN" not in ops  # a float network, stock ops
    # its own training: its own checkpoint, not the binary student's
    assert ft["student"]["key"] != r["student"]["key"] and ft["student"]["family"] == "quicknet (float twin)"
    assert os.path.exists(ft["student"]["checkpoint"])
    assert "float_twin/exit_3.tflite" in r["files"] and "float_twin/embedding.tflite" in r["files"]
    # the held-out probe (--eval-tasks): the twin's exits' embeddings beside the binary's
    name = os.path.basename(task_dir)
    task = r["eval"]["tasks"][name]
    assert len(task["twin_exits"]) == 3 and len(task["exits"]) == 3
    assert task["binarization_gap"] == pytest.approx([a - b for a, b in zip(task["twin_exits"], task["exits"])])
    assert "## Float twin" in (out / "eval.md").read_text()
    assert json.loads((out / "eval.json").read_text())["float_twin_model"] == "float_twin/embedding.tflite"
    # and the learning curve of the binary student, probed every epoch while it distilled
    assert [p["epoch"] for p in r["curves"]["points"]] == [1, 2]
    assert all(len(p["tasks"][name]) == 3 for p in r["curves"]["points"])
    # read as the shipped embedding.tflite reads the exits (the default: exit k the mean of heads 1..k)
    assert r["curves"]["ensemble"] is True and r["embedding_model"]["ensemble"] is True
    assert (out / "curves.png").stat().st_size > 1000
    assert "## Float twin: what binarization costs" in (out / "report.md").read_text()
    assert ft["binary_last_exit_over_twin_last_exit"] == pytest.approx(
        r["exits"][-1]["latency_ms"] / ft["exits"][-1]["latency_ms"]
    )


@pytest.mark.slow
def test_twin_teacher_trains_the_twin_first_and_mixes_its_exits_into_the_targets(task_dir, tmp_path, capsys):
    out = tmp_path / "guided"
    argv = [
        "--data",
        task_dir,
        "--teacher",
        "stand-in",
        "--clip-seconds",
        "0.5",
        "--epochs",
        "2",
        "--head-epochs",
        "1",
        "--fine-tune-epochs",
        "1",
        "--width",
        "16",
        "--out",
        str(out),
        "--runs",
        "2",
        "--float-twin",
        "--teacher-views",
        "1",
        "--twin-teacher",
        "0.5",
    ]
    r = run.call(argv)
    printed = capsys.readouterr().out
    assert "targets 0.5 x the float twin's exits + 0.5 x the teacher" in printed
    # teacher views: embedded once (both students see them), each clip in 2 versions
    v = r["teacher"]["views"]
    assert (v["per_clip"], v["mode"], v["embedded"], v["replaced"]) == (1, "sample", v["views"], 0) and v["views"] > 0
    assert "in 2 versions each (the clip and 1 teacher views, one drawn per epoch)" in printed
    assert printed.index("student: quicknet (float twin), 3 exits") < printed.index("student: distilling")
    # the report's twin is the guide itself (its checkpoint reused, not trained twice)
    assert printed.count("student: quicknet (float twin), 3 exits") == 1
    assert f"reusing trained weights {r['float_twin']['student']['checkpoint']}" in printed
    plain = config.from_argv(argv[:-2])
    guided = config.from_argv(argv)
    assert config.key(plain.train) != config.key(guided.train)  # the guided student is its own training
