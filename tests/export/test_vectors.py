"""export.vectors: the shared early-exit test vectors agree with the Python runtime."""

import json
import os

import pytest

from export import vectors
from export.interpreter import LceModel
from helpers import ROOT
from helpers import read_bytes as _read


@pytest.mark.slow
def test_shared_vectors_agree_with_the_python_runtime(exported, tmp_path):
    committed = os.path.join(ROOT, "android_demo", "app", "src", "test", "resources", "early_exit_vectors.json")
    data = json.load(open(committed))
    assert data["version"] == vectors.VERSION and len(data["decision_cases"]) > 20
    assert vectors.check(data) == []
    data["decision_cases"][0]["exit"] = 3 - data["decision_cases"][0]["exit"] % 3
    assert vectors.check(data) == ["decision_cases[0]"]
    # vectors from a real model's probabilities
    m, out, files, x = exported
    full = LceModel(_read(files.model)).predict(x)
    path = vectors.write(str(tmp_path / "v.json"), [full[f"exit{k}_probs"] for k in (1, 2, 3)])
    assert vectors.check(json.load(open(path))) == []
