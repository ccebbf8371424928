"""pipeline.cli: what the `brillsson` command itself does — its subcommands' printed answers.

The subcommands' figures are tested with the modules that compute them: `benchmark` in
tests/export/test_benchmark.py, `evaluate` in tests/pipeline/test_evaluate.py, `train-teacher`
in tests/pipeline/tools/test_train_teacher.py.
"""

import numpy as np
import pytest

from helpers import tone_clip, write_wav
from pipeline import cli


@pytest.mark.slow
def test_runtime_cli_prints_the_answer(exported, tmp_path, capsys):
    _, out, _, _ = exported
    clip = write_wav(tmp_path / "c.wav", tone_clip(900, seconds=0.3))
    r = cli.call(["classify", out, clip, "--threshold", "0.3"])
    printed = capsys.readouterr().out
    assert f"label: {r['label']}" in printed and r["label"] in ("low", "mid", "high")
    assert f"exit: {r['exit']}/3" in printed


@pytest.mark.slow
def test_listen_feeds_a_file_through_the_live_path_and_prints_each_decision(exported, tmp_path, capsys):
    _, out, _, x = exported
    clip = write_wav(
        tmp_path / "long.wav",
        np.concatenate([tone_clip(f, seconds=0.4, seed=i) for i, f in enumerate([300, 2500, 900, 300])]),
    )
    decisions = cli.call(["listen", out, "--wav", clip, "--every-ms", "120", "--threshold", "0.4"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"listening to {clip}: a decision every 0.12 s")
    assert len(decisions) >= 5 and len(printed) == 1 + len(decisions)
    for line, r in zip(printed[1:], decisions):
        assert f"label: {r['label']}" in line and f"exit: {r['exit']}/3" in line and "latency:" in line


@pytest.mark.slow
def test_listen_without_a_microphone_library_says_what_to_install(exported, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_sounddevice(name, *args, **kwargs):
        if name == "sounddevice":
            raise ImportError("No module named 'sounddevice'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sounddevice)
    with pytest.raises(SystemExit) as e:  # as_command: "error: …" on stderr, status 1
        cli.call(["listen", exported[1], "--seconds", "1"])
    message = str(e.value.code)
    assert message.startswith("error: listening needs sounddevice") and 'pip install -e ".[listen]"' in message


def _subcommands():
    own = cli.parser()._subparsers._group_actions[0].choices  # argparse keeps no public list of them
    return sorted(set(own) | set(cli.PASS_THROUGH))


@pytest.mark.parametrize("subcommand", _subcommands())
def test_every_subcommand_takes_quiet(subcommand, capsys):
    with pytest.raises(SystemExit) as done:
        cli.call([subcommand, "--help"])
    assert done.value.code == 0
    assert "--quiet" in capsys.readouterr().out
