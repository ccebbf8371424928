"""pipeline.usage: a command's --help description is its module docstring's first paragraph."""

import importlib
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import pytest

from pipeline import cli, usage


def test_summary_keeps_a_wrapped_first_paragraph_whole_and_stops_at_the_blank_line():
    doc = "\nDo one thing, described on a line\nthat wraps.\n\n    usage example\n\nMore text.\n"
    assert usage.summary(doc) == "Do one thing, described on a line\nthat wraps."
    assert usage.summary(None) == ""


@pytest.mark.parametrize("subcommand", sorted(cli.PASS_THROUGH))
def test_every_pass_through_subcommand_describes_itself_with_its_docstring(subcommand, capsys):
    module_name, fn = cli.PASS_THROUGH[subcommand]
    module = importlib.import_module(module_name)
    with pytest.raises(SystemExit) as done:
        getattr(module, fn)(["--help"], prog=f"brillsson {subcommand}")
    assert done.value.code == 0
    words = usage.summary(module.__doc__).split()
    assert words, f"{module_name} has no docstring to describe it"
    assert " ".join(words) in " ".join(capsys.readouterr().out.split())
