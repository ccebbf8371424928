"""pipeline.curves: held-out probe accuracy of every exit measured while distilling (real Larq training)."""

import json
import os

import pytest

from helpers import CLIP, tone_batch
from models import students
from pipeline import curves, distill


@pytest.mark.slow
def test_probe_curve_measures_every_exit_every_n_epochs_and_keeps_points_on_resume(task_dir, tmp_path):
    x, _, t = tone_batch(16)
    m = students.build("quicknet", num_classes=3, embedding_dim=16, exits=2, clip_samples=CLIP, width=8)
    path = str(tmp_path / "curves.json")
    cb = curves.ProbeCurve([task_dir], every=2, path=path, tag="run-a")
    distill.distill(m, x, t, epochs=3, batch_size=8, verbose=0, val_fraction=0.0, callbacks=[cb])
    assert [p["epoch"] for p in cb.points] == [2, 3]  # every 2 epochs, and after the last
    task = os.path.basename(task_dir)
    for p in cb.points:
        accs = p["tasks"][task]
        assert len(accs) == 2 and all(0.0 <= a <= 1.0 for a in accs)
    saved = json.load(open(path))
    assert saved["tag"] == "run-a" and saved["points"] == cb.points and saved["ensemble"] is False
    assert os.path.getsize(str(tmp_path / "curves.png")) > 1000
    # the tone task is easy: a linear probe of a distilled exit separates its three pitches
    assert max(cb.points[-1]["tasks"][task]) >= 2 / 3
    # the same training resumed keeps its earlier points; another training starts afresh
    again = curves.ProbeCurve([task_dir], every=2, path=path, tag="run-a")
    again.model = m
    again.on_train_begin()
    assert [p["epoch"] for p in again.points] == [2, 3]
    other = curves.ProbeCurve([task_dir], every=2, path=path, tag="run-b")
    other.model = m
    other.on_train_begin()
    assert other.points == []
    # read as embedding.tflite's ensemble: exit 1 is its own head, so its accuracy is the same
    mean = curves.ProbeCurve([task_dir], every=2, path=str(tmp_path / "ens.json"), tag="run-a", ensemble=True)
    mean.model = m
    mean.on_train_begin()
    accs = mean.measure(3)[task]
    assert len(accs) == 2 and accs[0] == cb.points[-1]["tasks"][task][0]
    assert json.load(open(tmp_path / "ens.json"))["ensemble"] is True  # the file says how it read the exits
    refs = {task: {"teacher": 0.9, "log-mel baseline": 0.5}}
    assert curves.plot(cb.points, str(tmp_path / "with_refs.png"), references=refs)
    assert curves.plot([], str(tmp_path / "none.png")) is None and not os.path.exists(tmp_path / "none.png")
