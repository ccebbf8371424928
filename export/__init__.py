"""LCE conversion, flatbuffer inspection, benchmarks and the early-exit runtime.

```python
from export import convert
from export.layout import Layout
files = convert.export_all(model, Layout("artifacts/demo"))
```
The middle layer: `export` imports `models` (which selects Keras 2), never `pipeline`.
"""

import models  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
