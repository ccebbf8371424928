"""Distil a speech-embedding teacher (TRILLsson) into a binary early-exit student.

The top layer: `pipeline` → `export` → `models` (`models` selects Keras 2 before TensorFlow
is imported, so importing this package first is enough).

```python
from pipeline import config, run
cfg = config.from_argv(["--epochs", "2"])      # one validated run configuration
report = run.run(cfg)                          # audio → teacher → student → export → figures → report
```
The command line is `brillsson` (`pipeline/cli.py`); `python pipeline/run.py` runs its `run`.
"""

import models  # noqa: F401  (selects Keras 2 before TensorFlow is imported)

__version__ = "0.2.0"
