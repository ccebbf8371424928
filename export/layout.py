"""The file layout of a run's output folder, named once for the run, export, runtimes,
calibration, evaluation and the Android asset copy.

```python
from export.layout import Layout
out = Layout("artifacts/demo")
out.model, out.exit(2), out.stage(1), out.stage(1, portable=True), out.thresholds
out.exit_files()            # the exits/exit_K.tflite present, ordered by K
out.relative(out.exit(2))   # "exits/exit_2.tflite"
```
"""

import os
import re

from models.errors import BrillssonError

_INDEX = re.compile(r"_(\d+)\.tflite$")


class IncompleteExport(BrillssonError, FileNotFoundError):
    """An output folder lacks a file a reader needs (no export yet, or an interrupted one)."""


class Layout:
    """Every path a run writes, relative to its output folder `root`."""

    MODEL = "model.tflite"
    MODEL_PORTABLE = "model_portable.tflite"
    FLOAT_REFERENCE = "float_reference.tflite"
    EMBEDDING = "embedding.tflite"
    FLOAT_TWIN = "float_twin"
    STREAM = "stream"
    EXITS, STAGES, STAGES_PORTABLE = "exits", "stages", "stages_portable"
    LABELS = "labels.txt"
    THRESHOLDS = "thresholds.json"
    REPORT_JSON, REPORT_MD, TRADEOFF = "report.json", "report.md", "tradeoff.png"
    VECTORS = "early_exit_vectors.json"
    PI_SCRIPT = os.path.join("pi", "run_benchmark.sh")
    TEACHER, TEACHER_CACHE = "teacher", "teacher_cache"
    CHECKPOINTS, LOGS, EVAL_CACHE = "checkpoints", "logs", "eval_cache"
    # what a device app needs: the staged segments (LCE and stock), labels and thresholds
    DEVICE_FILES = (STAGES, STAGES_PORTABLE, LABELS, THRESHOLDS)
    # what a live runtime adds: the front end once per hop, stage 1 from log-mel frames
    STREAM_FILES = (os.path.join(STREAM, "frontend.tflite"), os.path.join(STREAM, "stage_1.tflite"))

    def __init__(self, root):
        self.root = os.path.abspath(str(root))

    def path(self, *parts):
        """A path under the folder.

        Args:
            *parts: path components relative to `root`.

        Returns:
            The absolute path.
        """
        return os.path.join(self.root, *parts)

    def relative(self, path):
        """A path relative to the folder.

        Args:
            path: a path (normally under `root`).

        Returns:
            `path` relative to `root`.
        """
        return os.path.relpath(path, self.root)

    model = property(lambda self: self.path(self.MODEL))
    model_portable = property(lambda self: self.path(self.MODEL_PORTABLE))
    float_reference = property(lambda self: self.path(self.FLOAT_REFERENCE))
    embedding = property(lambda self: self.path(self.EMBEDDING))
    stream_frontend = property(lambda self: self.path(self.STREAM_FILES[0]))
    stream_stage1 = property(lambda self: self.path(self.STREAM_FILES[1]))
    labels = property(lambda self: self.path(self.LABELS))
    thresholds = property(lambda self: self.path(self.THRESHOLDS))
    report_json = property(lambda self: self.path(self.REPORT_JSON))
    report_md = property(lambda self: self.path(self.REPORT_MD))
    tradeoff = property(lambda self: self.path(self.TRADEOFF))
    vectors = property(lambda self: self.path(self.VECTORS))
    pi_script = property(lambda self: self.path(self.PI_SCRIPT))
    teacher = property(lambda self: self.path(self.TEACHER))
    teacher_cache = property(lambda self: self.path(self.TEACHER_CACHE))
    checkpoints = property(lambda self: self.path(self.CHECKPOINTS))
    logs = property(lambda self: self.path(self.LOGS))
    eval_cache = property(lambda self: self.path(self.EVAL_CACHE))

    def exit(self, k):
        """exits/exit_K.tflite.

        Args:
            k: the exit, 1-based.

        Returns:
            The absolute path (whether or not the file exists).
        """
        return self.path(self.EXITS, f"exit_{int(k)}.tflite")

    def float_twin_exit(self, k):
        """float_twin/exit_K.tflite.

        Args:
            k: the exit, 1-based.

        Returns:
            The absolute path (whether or not the file exists).
        """
        return self.path(self.FLOAT_TWIN, f"exit_{int(k)}.tflite")

    @property
    def curves(self):
        """curves.json (+ curves.png): held-out probe accuracy against distillation epochs."""
        return self.path("curves.json")

    @property
    def float_twin_embedding(self):
        """float_twin/embedding.tflite: the float twin's exit embeddings (stock TFLite ops)."""
        return self.path(self.FLOAT_TWIN, "embedding.tflite")

    def float_twin_files(self):
        """float_twin/exit_K.tflite present, ordered by K.

        Returns:
            The absolute paths; empty when there is no float_twin folder.
        """
        return self._indexed(self.FLOAT_TWIN)

    def stage(self, k, portable=False):
        """stages/stage_K.tflite, or stages_portable/stage_K.tflite.

        Args:
            k: the stage, 1-based.
            portable: the stock-TFLite stage instead of the LCE one.

        Returns:
            The absolute path (whether or not the file exists).
        """
        return self.path(self.STAGES_PORTABLE if portable else self.STAGES, f"stage_{int(k)}.tflite")

    def _indexed(self, folder):
        d = self.path(folder)
        if not os.path.isdir(d):
            return []
        found = [(int(m.group(1)), f) for f in os.listdir(d) if (m := _INDEX.search(f))]
        return [os.path.join(d, f) for _, f in sorted(found)]

    def exit_files(self):
        """exits/exit_K.tflite present, ordered by K.

        Returns:
            The absolute paths; empty when there is no exits folder.
        """
        return self._indexed(self.EXITS)

    def stage_files(self, portable=False):
        """stages/stage_K.tflite (or stages_portable/) present, ordered by K.

        Args:
            portable: list stages_portable/ instead of stages/.

        Returns:
            The absolute paths; empty when there is no such folder.
        """
        return self._indexed(self.STAGES_PORTABLE if portable else self.STAGES)

    def require(self, *paths):
        """Raise `IncompleteExport` naming the first of `paths` that is missing.

        Args:
            *paths: the paths that must exist (at least one).

        Returns:
            The one path when one is given, else the tuple of `paths`.

        Raises:
            IncompleteExport: naming the first missing path.
        """
        for p in paths:
            if not os.path.exists(p):
                raise IncompleteExport(
                    f"{self.root}: no {self.relative(p)} (is it a finished run's output "
                    "folder? run pipeline/run.py with --out pointing at it)"
                )
        return paths[0] if len(paths) == 1 else paths

    def __repr__(self):
        return f"Layout({self.root!r})"
