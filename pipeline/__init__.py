"""Distil a speech-embedding teacher (TRILLsson) into a binary early-exit student.

Every entry point (``python pipeline/run.py``, ``python -m pipeline.run``, the
``models`` and ``export`` packages, the tests) imports this package first, so this
is the one place that selects Keras 2: larq, LCE's converter and tensorflow-hub
need it, and the choice must be made before TensorFlow is first imported.

```python
import pipeline  # noqa: F401  (selects Keras 2)
import tensorflow as tf
```
"""
import os
import sys

if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    raise ImportError(
        "TensorFlow was imported before `pipeline`; larq and LCE need Keras 2. "
        "Import `pipeline` first or set TF_USE_LEGACY_KERAS=1 in the environment."
    )
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF's C++ start-up noise (cuFFT/cuDNN registration)

__version__ = "0.1.0"
