"""The export manifest: begun before an export, written last, checked by every reader."""

import os

import pytest

from export import manifest
from export.layout import IncompleteExport, Layout


def _export(lay, exits, tag=b"a"):
    files = []
    for k in range(1, exits + 1):
        for p in (lay.exit(k), lay.stage(k)):
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(tag + bytes([k]) + os.path.basename(p).encode())
            files.append(p)
    return files


def test_begin_write_verify(tmp_path):
    lay = Layout(tmp_path)
    manifest.begin(lay)  # nothing there yet: fine
    files = _export(lay, 3)
    with pytest.raises(IncompleteExport, match="export.json: the export there is unfinished"):
        manifest.verify(lay)
    manifest.write(lay, files, model="m1")
    assert manifest.verify(lay, needed=["exits", "stages"])["model"] == "m1"

    manifest.begin(lay)  # a new export starts: the old set is no longer trusted, its files are gone
    assert not os.path.exists(manifest.path(lay)) and lay.exit_files() == [] and lay.stage_files() == []
    files = _export(lay, 2, tag=b"b")
    manifest.write(lay, files, model="m2")
    assert [os.path.basename(p) for p in lay.exit_files()] == ["exit_1.tflite", "exit_2.tflite"]


def test_verify_names_a_changed_a_missing_and_an_unlisted_file(tmp_path):
    lay = Layout(tmp_path)
    files = _export(lay, 2)
    manifest.write(lay, files, model="m")
    with open(lay.stage(2), "wb") as f:
        f.write(b"another model")
    with pytest.raises(IncompleteExport, match=r"stage_2.tflite: differs from the file export.json lists"):
        manifest.verify(lay)
    manifest.write(lay, files, model="m")
    os.remove(lay.exit(1))
    with pytest.raises(IncompleteExport, match=r"exit_1.tflite: listed in export.json but missing"):
        manifest.verify(lay)
    files = _export(lay, 2)
    manifest.write(lay, files, model="m")
    with open(lay.stage(3), "wb") as f:
        f.write(b"left by an export with 3 exits")
    with pytest.raises(IncompleteExport, match=r"stage_3.tflite: not part of the export"):
        manifest.verify(lay, needed=["stages"])
    with pytest.raises(IncompleteExport, match="thresholds.json: not part of the export"):
        manifest.verify(lay, needed=["thresholds.json"])
