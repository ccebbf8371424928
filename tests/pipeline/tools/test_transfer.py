"""brillsson transfer: runs' probes side by side, each ranking task judged against the targets."""

import json

import pytest

from pipeline.errors import DataError
from pipeline.tools import transfer


def _run(tmp_path, name, tasks, teacher="/t/ge2e"):
    out = tmp_path / name
    out.mkdir()
    (out / "eval.json").write_text(json.dumps({"teacher": {"handle": teacher}, "tasks": tasks}))
    return str(out)


def _task(teacher, exits, baseline, clips=240):
    return {"teacher": teacher, "exits": exits, "baseline": baseline, "test_clips": clips}


def test_judge_counts_only_tasks_where_the_teacher_beats_log_mel_by_two_standard_errors():
    se = transfer.standard_error(0.73, 240)
    assert se == pytest.approx(0.0287, abs=1e-4)
    ranking = transfer.judge(_task(0.73, [0.72, 0.71, 0.71], 0.62))
    assert ranking["ranks"] and all(ranking["targets"].values())
    assert not transfer.judge(_task(0.73, [0.72, 0.71, 0.71], 0.68))["ranks"]  # 5 points: under 2 SE
    assert not transfer.judge(_task(0.48, [0.7, 0.6, 0.5], 0.81))["ranks"]  # the teacher below log-mel


def test_judge_flags_each_target_it_misses():
    short = transfer.judge(_task(0.729, [0.717, 0.708, 0.704], 0.617))  # 0.966x: one clip short
    assert short["last_over_teacher"] == pytest.approx(0.9657, abs=1e-4)
    assert short["targets"] == {"last_over_teacher": False, "above_log_mel": True, "ordered": True}
    falling = transfer.judge(_task(0.683, [0.762, 0.671, 0.70], 0.617))  # exit 2: 9 points (3 SE) below exit 1
    assert falling["targets"]["ordered"] is False and falling["targets"]["last_over_teacher"] is True
    under = transfer.judge(_task(0.683, [0.76, 0.75, 0.60], 0.617))
    assert under["targets"]["above_log_mel"] is False


def test_collect_markdown_and_plot(tmp_path):
    a = _run(tmp_path, "before", {"language": _task(0.729, [0.717, 0.675, 0.637], 0.617)})
    b = _run(tmp_path, "after", {"language": _task(0.729, [0.717, 0.708, 0.71], 0.617)})
    c = _run(tmp_path, "kws", {"speaker": _task(0.479, [0.77, 0.65, 0.49], 0.812)}, teacher="/t/kws/")
    png = str(tmp_path / "t.png")
    rows = transfer.main([a, b, c, "--labels", "before,after,other", "--out", png])
    assert [r["label"] for r in rows] == ["before", "after", "other"]
    assert [r["teacher"] for r in rows] == ["ge2e", "ge2e", "kws"]
    assert rows[0]["tasks"]["language"]["targets"]["ordered"] is False
    assert all(rows[1]["tasks"]["language"]["targets"].values())
    text = (tmp_path / "t.md").read_text()
    assert "| after | ge2e | language (240) | 0.729 | 0.717 / 0.708 / 0.710 | 0.617 | 0.97 |" in text
    assert "does not rank" in text
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "t.json").read_text())[1]["label"] == "after"


def test_quiet_prints_nothing_and_still_writes_the_figure_and_table(tmp_path, capsys):
    a = _run(tmp_path, "a", {"language": _task(0.729, [0.717, 0.708, 0.71], 0.617)})
    transfer.main([a, "--out", str(tmp_path / "q.png")])
    assert "| a | ge2e | language (240)" in capsys.readouterr().out
    transfer.main([a, "--out", str(tmp_path / "q.png"), "--quiet"])
    assert capsys.readouterr().out == ""
    assert (tmp_path / "q.md").read_text().count("| a |") == 1 and (tmp_path / "q.png").exists()


def test_a_folder_without_probes_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty/eval.json"):
        transfer.collect([str(tmp_path / "empty")])
    with pytest.raises(SystemExit, match="error: .*eval.json"):
        transfer.main([str(tmp_path / "empty"), "--out", str(tmp_path / "x.png")])
