"""Logging for the command line: one handler, one format, `--quiet` as a level.

```python
import logging
log = logging.getLogger(__name__)        # in every module
log.log(log_setup.PROGRESS, "step 3/6: loss 0.41")       # per-step lines (hidden by --quiet, as Keras bars)
log.info("teacher: 120/372 clips embedded, ETA 4 s")     # what a stage did, throttled progress
log.warning("using a STAND-IN teacher")                  # always shown

from pipeline import log as log_setup
log_setup.configure(quiet=False)         # the CLI does this once per command
```
"""

import logging
import sys

PROGRESS = 15  # between DEBUG and INFO: per-step lines and Keras progress bars
logging.addLevelName(PROGRESS, "PROGRESS")
NAMES = ("pipeline", "export", "models")


class _Stdout(logging.StreamHandler):
    """Writes to the current sys.stdout (looked up at each message, so captured output works)."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


class _Short(logging.Formatter):
    def format(self, record):
        record.short = record.name.rsplit(".", 1)[-1]
        return super().format(record)


def configure(quiet=False):
    """Log to stdout as "[module] message"; `quiet` hides per-step lines and Keras bars (level INFO)."""
    level = logging.INFO if quiet else PROGRESS
    handler = _Stdout()
    handler.setFormatter(_Short("[%(short)s] %(message)s"))
    for name in NAMES:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    return level


def progress_bars():
    """Keras `verbose` for the configured level: bars only where progress lines are shown."""
    return 1 if logging.getLogger("pipeline").isEnabledFor(PROGRESS) else 0
