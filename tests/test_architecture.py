"""The structure the layers contract promises: imports point down (pipeline → export → models),
no import cycles, the run never imports its tools; and the docs cite only files that exist."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_import_contracts_in_setup_cfg_are_kept():
    linter = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    p = subprocess.run([linter, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "Layers point down: pipeline -> export -> models KEPT" in p.stdout
    assert re.search(r"Contracts: (\d+) kept, 0 broken", p.stdout)


def test_a_broken_layer_is_caught(tmp_path):
    """The contract is not vacuous: an upward import in a copy of the tree breaks it."""
    import shutil

    for pkg in ("models", "export", "pipeline"):
        shutil.copytree(
            os.path.join(ROOT, pkg), tmp_path / pkg, ignore=shutil.ignore_patterns("demo_data", "__pycache__")
        )
    shutil.copy(os.path.join(ROOT, "setup.cfg"), tmp_path / "setup.cfg")
    with open(tmp_path / "models" / "blocks.py", "a") as f:
        f.write("\nfrom pipeline import config  # noqa\n")
    linter = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    p = subprocess.run([linter, "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode != 0 and "models.blocks -> pipeline.config" in p.stdout


def test_docs_and_comments_cite_only_files_in_the_repository():
    """Every repository path a README, docstring or comment names (pipeline/run.py, a capitalised doc) exists."""
    tops = ("pipeline/", "models/", "export/", "tests/", "android_demo/", ".ci/")
    cited = re.compile(r"(?<![\w/.])((?:\.ci/|[A-Za-z_][\w-]*/)*[A-Za-z_][\w-]*\.(?:md|py|cfg|sh|toml))\b")
    everywhere = {n for _, _, files in os.walk(ROOT) for n in files}
    missing = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".") and d not in ("demo_data", "__pycache__", "build") and not d.endswith(".egg-info")
        ] + ([".ci"] if folder == ROOT else [])
        for name in files:
            if not name.endswith((".py", ".md", ".java", ".sh")) and name != "run":
                continue
            here = os.path.relpath(os.path.join(folder, name), ROOT)
            text = open(os.path.join(folder, name), encoding="utf-8", errors="replace").read()
            for ref in set(cited.findall(text)):
                if ref.startswith(tops) and not os.path.exists(os.path.join(ROOT, ref)):
                    missing.append(f"{here} cites {ref}")
                elif re.fullmatch(r"[A-Z_]+\.md", ref) and ref not in everywhere:  # README.md and the like
                    missing.append(f"{here} cites {ref}")
    assert missing == []
