"""Representation evaluation (pipeline.evaluate): windows, `brillsson evaluate`'s table, json and
chart, and its cache — on a tiny model exported by the tests."""

import json
import os
import re

import numpy as np
import pytest

from export import convert, manifest
from export.layout import Layout
from helpers import tone_clip, write_wav
from models import students
from pipeline import cli, evaluate


def test_windows_and_pooling():
    assert evaluate.window_starts(16000, 16000) == [None]
    assert evaluate.window_starts(20000, 16000) == [None]  # 1.25 windows: one, centre-cropped
    assert evaluate.window_starts(32000, 16000) == [0, 16000]
    assert evaluate.window_starts(40000, 16000) == [0, 12000, 24000]  # 2.5 → 3 evenly spaced, overlapping
    f = np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 10.0]])
    np.testing.assert_allclose(evaluate.pool(f, np.array([0, 0, 1]), 2), [[2.0, 3.0], [10.0, 10.0]])


@pytest.fixture(scope="module")
def long_task(tmp_path_factory):
    """A task of 1 s clips (two windows of the 0.5 s student), DIR/<label>/ layout: split made by scan.

    `_silence_` holds digitally silent clips, which are its content, not broken files.
    """
    root = tmp_path_factory.mktemp("long")
    for i, (label, f) in enumerate((("a", 400.0), ("b", 1800.0), ("_silence_", None))):
        for j in range(8):
            x = np.zeros(16000, np.float32) if f is None else tone_clip(f, seconds=1.0, seed=100 * i + j)
            write_wav(root / label / f"s{j}_nohash_0.wav", x)
    return str(root)


@pytest.fixture(scope="module")
def model_dir(task_dir, stand_in_teacher, tmp_path_factory):
    """A run's output folder as evaluate reads it: embedding.tflite (LCE) and report.json.

    The tiny student is exported by the test, untrained: its batch-norm statistics come from a
    few clips, so its exits are fixed random binary features of the audio.
    """
    out = tmp_path_factory.mktemp("evalmodel")
    m = students.build("quicknet", num_classes=3, embedding_dim=64, exits=2, clip_samples=8000, width=16)
    m(np.stack([tone_clip(f, seed=i) for i, f in enumerate([300, 900, 2500, 600, 1500, 4000])]), training=True)
    (out / "embedding.tflite").write_bytes(convert.to_lce(convert.embedding_model(m, rank=8)))
    report = {"teacher": {"handle": stand_in_teacher, "stand_in": True}, "settings": {"clip_seconds": 0.5}}
    (out / "report.json").write_text(json.dumps(report))
    manifest.write(Layout(out), [str(out / "embedding.tflite")], model="test")
    return out


@pytest.fixture(scope="module")
def evaluated_run(model_dir, task_dir, long_task):
    """`brillsson evaluate OUT --tasks A --tasks B` (teacher from report.json)."""
    r = cli.call(["evaluate", str(model_dir), "--tasks", task_dir, "--tasks", long_task])
    return model_dir, r


@pytest.mark.slow
def test_cli_writes_table_json_and_chart(evaluated_run, task_dir, long_task):
    out, r = evaluated_run
    ev = json.loads((out / "eval.json").read_text())
    assert (out / "eval.png").stat().st_size > 1000
    task, long = os.path.basename(task_dir), os.path.basename(long_task)
    assert list(ev["tasks"]) == [task, long]
    assert ev["teacher"]["handle"] == r["teacher"]["handle"] and ev["teacher"]["stand_in"] is True
    assert ev["window_samples"] == 8000 and ev["exits"] == ["exit1_embedding", "exit2_embedding"]
    assert ev["embedding_model"] == "embedding.tflite"
    for t in ev["tasks"].values():
        assert len(t["exits"]) == 2
        for a in [t["teacher"], t["baseline"], *t["exits"]]:
            assert 0.0 <= a <= 1.0
    # tones of different pitch: the log-mel baseline and the teacher get them all
    assert ev["tasks"][task]["baseline"] == 1.0 and ev["tasks"][task]["teacher"] == 1.0
    lt = ev["tasks"][long]
    assert lt["windows"] == 2 * (lt["train_clips"] + lt["test_clips"]) and lt["test_clips"] > 0
    assert lt["train_clips"] + lt["test_clips"] == 24 and lt["skipped"] == []
    assert r["tasks"] == ev["tasks"]

    # every figure of the markdown table is the json's, rounded
    rows = [ln for ln in (out / "eval.md").read_text().splitlines() if ln.startswith("| ")]
    head = [c.strip() for c in rows[0].strip("|").split("|")]
    assert head == [
        "task",
        "classes",
        "test clips",
        "teacher",
        "exit 1",
        "exit 2",
        "log-mel baseline",
        "exit 1 / teacher",
        "exit 2 / teacher",
    ]
    assert len(rows) == 1 + len(ev["tasks"])
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        t = ev["tasks"][cells[0]]
        want = [
            len(t["labels"]),
            t["test_clips"],
            t["teacher"],
            *t["exits"],
            t["baseline"],
            *[e / t["teacher"] for e in t["exits"]],
        ]
        assert [float(c) for c in cells[1:]] == pytest.approx(want, abs=5e-4)


@pytest.mark.slow
def test_cli_reuses_cache_and_keys_follow_the_tflite_file(evaluated_run, task_dir, stand_in_teacher, tmp_path, capsys):
    out, _ = evaluated_run
    before = json.loads((out / "eval.json").read_text())
    cache_files = sorted(os.listdir(out / "eval_cache" / "student"))
    again = cli.call(["evaluate", str(out), "--tasks", task_dir])  # default --results: the run folder
    assert "clips embedded" not in capsys.readouterr().out  # nothing computed: every window from the cache
    assert sorted(os.listdir(out / "eval_cache" / "student")) == cache_files
    assert again["tasks"][os.path.basename(task_dir)] == before["tasks"][os.path.basename(task_dir)]

    # the cache key is the .tflite file's content and the exit: exit 1 and exit 2 never share entries
    model = evaluate.EmbeddingModel(out / "embedding.tflite")
    e1, e2 = model.exit(1), model.exit(2)
    assert e1.ident != e2.ident and e1.ident == evaluate.EmbeddingModel(out / "embedding.tflite").exit(1).ident

    # --results elsewhere, explicit teacher: a fresh cache, the same figures
    other = cli.call(
        ["evaluate", str(out), "--tasks", task_dir, "--teacher", stand_in_teacher, "--results", str(tmp_path / "ev")]
    )
    printed = capsys.readouterr().out
    assert re.search(r"exit 2: \d+/\d+ clips embedded", printed)
    assert (tmp_path / "ev" / "eval.md").exists() and not (tmp_path / "ev" / "report.json").exists()
    t = os.path.basename(task_dir)
    assert other["tasks"][t]["exits"] == before["tasks"][t]["exits"]
