"""Reliability of the whole pipeline on tiny data: what a crash, a rerun, a concurrent run or a full
disk leaves behind is either complete and its own, or refused with a message naming the file."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from export import manifest
from export.layout import IncompleteExport, Layout
from pipeline import cli, run
from pipeline.lock import OutputLock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))


def tiny(task_dir, out, *extra):
    return [
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
        "0",
        "--width",
        "8",
        "--runs",
        "2",
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


@pytest.fixture(scope="module")
def finished(task_dir, tmp_path_factory):
    """A finished run with 3 exits."""
    out = tmp_path_factory.mktemp("finished") / "out"
    return out, run.call(tiny(task_dir, out))


@pytest.mark.slow
def test_a_finished_export_is_sealed_by_its_manifest(finished):
    out, r = finished
    m = manifest.verify(Layout(out), needed=["exits", "stages", "stages_portable", "labels.txt", "thresholds.json"])
    assert m["model"] == r["student"]["key"]
    assert {"model.tflite", "exits/exit_3.tflite", "stages/stage_3.tflite", "thresholds.json"} <= set(m["files"])


@pytest.mark.slow
def test_a_mixed_export_folder_is_refused_naming_the_file(finished, tmp_path, capsys):
    out, _ = finished
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    stage = mixed / "stages" / "stage_2.tflite"
    stage.write_bytes((mixed / "stages" / "stage_1.tflite").read_bytes())  # another model's segment
    clip = os.path.join(TESTS, "..", "pipeline", "demo_data", "test", "yes")
    clip = os.path.join(clip, sorted(os.listdir(clip))[0])
    for argv in (["classify", str(mixed), clip], ["benchmark", str(mixed), "--runs", "1"]):
        with pytest.raises(SystemExit) as e:
            cli.call(argv)
        assert str(stage) in str(e.value.code) and "mixes two models" in str(e.value.code), argv
    (tmp_path / "app" / "app" / "src" / "main").mkdir(parents=True)
    with pytest.raises(IncompleteExport, match="mixes two models"):
        run.copy_to_android(Layout(mixed), str(tmp_path / "app"))
    assert not (tmp_path / "app" / "app" / "src" / "main" / "assets").exists()
    # an export that never finished (no manifest) is refused too
    os.remove(mixed / manifest.NAME)
    with pytest.raises(SystemExit, match="export.json: the export there is unfinished"):
        cli.call(["classify", str(mixed), clip])


@pytest.mark.slow
def test_a_rerun_with_fewer_exits_leaves_no_stale_files(finished, task_dir, tmp_path):
    out, _ = finished
    again = tmp_path / "again"
    shutil.copytree(out, again)
    r = run.call(tiny(task_dir, again, "--exits", "2"))
    lay = Layout(again)
    assert [os.path.basename(p) for p in lay.exit_files()] == ["exit_1.tflite", "exit_2.tflite"]
    assert len(lay.stage_files()) == len(lay.stage_files(portable=True)) == 2 and len(r["stages"]) == 2
    figs = cli.call(["benchmark", str(again), "--runs", "2"])
    assert len(figs["exits_ms"]) == len(figs["stages_ms"]) == 2
    # the Android copy: the app's assets hold this export's stages only, none of an earlier one
    assets = tmp_path / "app_project" / "app" / "src" / "main" / "assets"
    shutil.copytree(out / "stages", assets / "stages")  # the 3-stage export copied there before
    run.copy_to_android(lay, str(tmp_path / "app_project"))
    assert sorted(os.listdir(assets / "stages")) == ["stage_1.tflite", "stage_2.tflite"]
    assert (assets / "stages" / "stage_2.tflite").read_bytes() == (again / "stages" / "stage_2.tflite").read_bytes()
    assert (assets / "thresholds.json").read_bytes() == (again / "thresholds.json").read_bytes()


@pytest.mark.slow
def test_a_truncated_checkpoint_is_reported_and_recomputed_to_the_same_weights(finished, task_dir, tmp_path, capsys):
    out, r = finished
    again = tmp_path / "again"
    shutil.copytree(out, again)
    ckpts = again / "checkpoints"
    final = ckpts / os.path.basename(r["student"]["checkpoint"])
    distilled = ckpts / final.name.replace(".weights.h5", "-distill.weights.h5")
    heads = ckpts / final.name.replace(".weights.h5", "-heads.weights.h5")
    before = final.read_bytes()
    for p in (final, distilled, heads):  # as a kill in the middle of saving would leave them
        p.write_bytes(p.read_bytes()[:1000])
    capsys.readouterr()
    r2 = run.call(tiny(task_dir, again))
    printed = capsys.readouterr().out
    assert f"{final}: unreadable or mismatched checkpoint" in printed and str(distilled) in printed
    assert [e["accuracy"] for e in r2["exits"]] == [e["accuracy"] for e in r["exits"]]
    import h5py

    def weights(path):
        found = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda n, o: found.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return found

    (tmp_path / "before.h5").write_bytes(before)
    a, b = weights(tmp_path / "before.h5"), weights(final)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)  # deterministic retraining


def test_a_second_run_on_the_same_out_stops_at_once(task_dir, tmp_path):
    out = tmp_path / "busy"
    with OutputLock(out):
        with pytest.raises(SystemExit) as e:
            run.call(tiny(task_dir, out))
    assert f"{out} is in use by another run (pid {os.getpid()})" in str(e.value.code)
    assert not (out / "teacher").exists()  # stopped before any work


def test_bad_settings_and_folders_end_in_one_line(tmp_path, task_dir):
    (tmp_path / "file").write_text("x")
    (tmp_path / "list.yaml").write_text("- epochs\n- 3\n")
    (tmp_path / "broken.yaml").write_text("epochs: [1, 2\n")
    cases = [
        (["--out", str(tmp_path / "file")], "exists and is not a folder"),
        (["--config", str(tmp_path / "none.yaml")], "none.yaml: cannot read the config file"),
        (["--config", str(tmp_path / "list.yaml")], "holds a mapping of settings (key: value), not a list"),
        (["--config", str(tmp_path / "broken.yaml")], "broken.yaml: not valid YAML"),
    ]
    for argv, msg in cases:
        with pytest.raises(SystemExit) as e:
            run.call(["--data", task_dir, *argv])
        assert msg in str(e.value.code), argv
    for argv, msg in (
        (["classify", str(tmp_path), "x.wav"], "no export.json"),
        (["evaluate", str(tmp_path), "--tasks", str(tmp_path / "nope")], "no export.json"),
    ):
        with pytest.raises(SystemExit) as e:
            cli.call(argv)
        assert msg in str(e.value.code), argv


@pytest.mark.slow
def test_runtime_threshold_nan_and_long_clips(finished, tmp_path, capsys):
    from helpers import tone_clip, write_wav

    out, _ = finished
    with pytest.raises(SystemExit, match=r"threshold is a normalized entropy in \[0, 1\], got nan"):
        cli.call(["classify", str(out), "x.wav", "--threshold", "nan"])
    long = write_wav(tmp_path / "long.wav", np.concatenate([tone_clip(300, seconds=1.0), tone_clip(2500, seconds=1.2)]))
    with pytest.raises(SystemExit, match="nope: task folder does not exist"):
        cli.call(["evaluate", str(out), "--tasks", str(tmp_path / "nope")])
    decisions = cli.call(["classify", str(out), long])
    printed = capsys.readouterr().out
    assert len(decisions) == 8  # 2.2 s in 0.5 s windows every 0.25 s: 7, plus one for the tail
    assert "8 windows of 0.5 s, 0.25 s apart, cover the 2.20 s clip" in printed and "   1.70 s  label:" in printed


@pytest.mark.slow
def test_a_one_label_task_finishes_with_a_report(tmp_path):
    from helpers import tone_clip, write_wav

    for split, n in (("train", 4), ("test", 1)):
        for j in range(n):
            write_wav(tmp_path / "one" / split / "only" / f"c{j}.wav", tone_clip(500, seed=j + 10 * (split == "test")))
    r = run.call(tiny(str(tmp_path / "one"), tmp_path / "out", "--exits", "2"))
    t = r["early_exit_targets"]["within_1pct"]
    assert r["data"]["labels"] == ["only"] and t["cross_validated"]["accuracy"] is None
    assert "too few" in t["cross_validated"]["note"]
    assert json.loads((tmp_path / "out" / "thresholds.json").read_text())["targets"]["within_1pct"]["threshold"] >= 0


KILLED_EXPORT = textwrap.dedent("""
    import os, signal, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    import pipeline
    from export import convert
    write = convert.atomic_write
    def dies_on_stage_2(path, data):
        if path.endswith(os.path.join("stages", "stage_2.tflite")):
            os.kill(os.getpid(), signal.SIGKILL)  # the machine goes down mid-export
        return write(path, data)
    convert.atomic_write = dies_on_stage_2
    from pipeline import run
    run.call({argv!r})
""")


@pytest.mark.slow
def test_a_run_killed_while_exporting_leaves_a_refused_folder_then_a_rerun_completes(finished, task_dir, tmp_path):
    out, first = finished
    again = tmp_path / "again"
    shutil.copytree(out, again)
    argv = tiny(task_dir, again, "--seed", "1")  # other settings: a new model over the finished folder
    script = KILLED_EXPORT.format(root=ROOT, tests=TESTS, argv=argv)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert p.returncode == -9, p.stderr[-2000:]
    assert (again / "stages" / "stage_1.tflite").exists()  # the new model's first segment was written
    with pytest.raises(SystemExit, match="the export there is unfinished"):
        cli.call(["benchmark", str(again), "--runs", "1"])
    r = run.call(argv)  # the rerun reuses the trained weights and finishes the export
    assert manifest.verify(Layout(again))["model"] == r["student"]["key"] != first["student"]["key"]


def _mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


@pytest.mark.slow
def test_a_full_disk_stops_with_one_message_and_nothing_trusted(task_dir, tmp_path):
    """Needs root (a 1 MiB tmpfs as --out); CI runs as root. Skipped where mounting is not allowed."""
    small = tmp_path / "small"
    if not _mount_tmpfs(small, "1m"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        with pytest.raises(SystemExit) as e:
            run.call(tiny(task_dir, small / "out"))
        assert "no space left on the device" in str(e.value.code) and str(small) in str(e.value.code)
        assert not (small / "out" / manifest.NAME).exists()
        leftovers = [f for _, _, fs in os.walk(small) for f in fs if ".tmp-" in f]
        assert leftovers == []  # atomic writes clean up after themselves
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)
