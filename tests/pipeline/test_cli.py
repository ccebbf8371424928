"""pipeline.cli: what the `brillsson` command itself does — its subcommands' printed answers.

The subcommands' figures are tested with the modules that compute them: `benchmark` in
tests/export/test_benchmark.py, `evaluate` in tests/pipeline/test_evaluate.py, `train-teacher`
in tests/pipeline/tools/test_train_teacher.py.
"""
import pytest

from helpers import tone_clip, write_wav
from pipeline import cli


@pytest.mark.slow
def test_runtime_cli_prints_the_answer(exported, tmp_path, capsys):
    _, out, _, _ = exported
    clip = write_wav(tmp_path / "c.wav", tone_clip(900, seconds=0.3))
    r = cli.main(["classify", out, clip, "--threshold", "0.3"])
    printed = capsys.readouterr().out
    assert f"label: {r['label']}" in printed and r["label"] in ("low", "mid", "high")
    assert f"exit: {r['exit']}/3" in printed

