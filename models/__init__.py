"""Keras/Larq building blocks: the log-mel front end, binary blocks and students with exits.

```python
from models import students
model = students.build("quicknet", num_classes=12, embedding_dim=1024, exits=3)
```

This package is the bottom layer (`pipeline` → `export` → `models`), so it is the one place
that selects Keras 2: larq, LCE's converter and tensorflow-hub need it, and the choice must
be made before TensorFlow is first imported. Importing any module of `models`, `export` or
`pipeline` runs this first.
"""

import os
import sys

if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    raise ImportError(
        "TensorFlow was imported before `models`; larq and LCE need Keras 2. "
        "Import `models` (or `export`, `pipeline`) first, or set TF_USE_LEGACY_KERAS=1 in the environment."
    )
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF's C++ start-up noise (cuFFT/cuDNN registration)
