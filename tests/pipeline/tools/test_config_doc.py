"""docs/configuration.md is generated from pipeline/config.py, so it cannot drift from the code."""

import os

from helpers import ROOT
from pipeline import config
from pipeline.tools import config_doc

PAGE = os.path.join(ROOT, "docs", "configuration.md")


def test_the_configuration_page_is_what_the_code_generates():
    with open(PAGE) as f:
        assert f.read() == config_doc.markdown(), (
            "docs/configuration.md is out of date: python -m pipeline.tools.config_doc docs/configuration.md"
        )


def test_every_setting_has_a_row_with_its_flag_and_default():
    text = config_doc.markdown()
    for section, cls in config.SECTIONS.items():
        for name, value in vars(cls()).items():
            assert f"`{section}: {{{name}: …}}`" in text
    assert "| `--frontend` |" in text and "| `--no-spec-augment` |" in text and "| `--epochs` |" in text
    assert "| `--self-distill` |" in text and "| `--loss whitened` |" in text  # the removed ones, with why


def test_check_mode_fails_on_a_stale_page(tmp_path):
    stale = tmp_path / "c.md"
    stale.write_text("old\n")
    assert config_doc.main(["--check", str(stale)]) == 1
    assert config_doc.main([str(stale)]) == 0 and config_doc.main(["--check", str(stale)]) == 0
