"""A run's file layout: names defined once, files listed by index, a clear error for a missing one."""

import os

import pytest

from export.layout import IncompleteExport, Layout


def test_paths_and_indexed_listing(tmp_path):
    lay = Layout(tmp_path)
    assert lay.model == str(tmp_path / "model.tflite") and lay.exit(2) == str(tmp_path / "exits" / "exit_2.tflite")
    assert lay.stage(1, portable=True) == str(tmp_path / "stages_portable" / "stage_1.tflite")
    for k in (10, 2, 1):  # ordered by K, not by name
        os.makedirs(tmp_path / "exits", exist_ok=True)
        (tmp_path / "exits" / f"exit_{k}.tflite").write_bytes(b"x")
    (tmp_path / "exits" / "notes.txt").write_text("not a model")
    assert [os.path.basename(p) for p in lay.exit_files()] == ["exit_1.tflite", "exit_2.tflite", "exit_10.tflite"]
    assert lay.stage_files() == [] and lay.relative(lay.exit(10)) == os.path.join("exits", "exit_10.tflite")


def test_require_names_the_missing_file(tmp_path):
    with pytest.raises(IncompleteExport, match="no thresholds.json"):
        Layout(tmp_path).require(Layout(tmp_path).thresholds)
