"""Typed errors of the pipeline; the command line (`pipeline.cli`) turns them into one-line
messages and exit codes, library code never exits.

```python
from pipeline import errors
try:
    corpus.load_corpus(cfg)
except errors.DataError as e:
    print(f"error: {e}")
```
"""

from models.errors import BrillssonError, ConfigError  # noqa: F401  (re-exported: one hierarchy)


class DataError(BrillssonError):
    """Audio or a task folder that cannot be used (missing folder, nothing usable left)."""


class TeacherError(BrillssonError):
    """The teacher cannot be found, loaded or run."""


class OutputBusy(BrillssonError):
    """Another run is writing to the same output folder."""


class DiskFull(BrillssonError):
    """A write failed for lack of space; what was finished before is kept and reused by a rerun."""


def as_command(fn):
    """Run `fn()` as a command: a typed error becomes `error: <message>` on stderr and exit status 1.

    Only command-line entry points use this (`pipeline.cli`, `python pipeline/run.py`).
    """
    try:
        return fn()
    except BrillssonError as e:
        raise SystemExit(f"error: {e}") from None
