"""Keras/Larq building blocks: the log-mel front end, binary blocks and students with exits.

```python
from models import students
model = students.build("quicknet", num_classes=12, embedding_dim=1024, exits=3)
```
"""
import pipeline  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
