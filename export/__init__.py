"""LCE conversion, flatbuffer inspection, benchmarks and the early-exit runtime.

```python
from export import convert
files = convert.export_all(model, "artifacts/demo")
```
"""
import pipeline  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
