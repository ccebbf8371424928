"""LCE conversion of a multi-exit student: the full model and one sub-graph per exit.

```python
from export import convert
paths = convert.export_all(model, "OUT")     # OUT/model.tflite, OUT/exits/exit_K.tflite
fb = convert.to_lce(model)                    # bytes of an LCE flatbuffer
```
"""
import os

import larq_compute_engine as lce

import pipeline  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
import tensorflow as tf

from models.students import exit_names


def to_lce(model, target="arm"):
    """Convert with LCE: binary QuantConv2D layers become LceBconv2d."""
    return lce.convert_keras_model(model, inference_input_type=tf.float32,
                                   inference_output_type=tf.float32, target=target)


def exit_model(model, k):
    """audio → exit k only ({exitK_embedding, exitK_probs})."""
    outs = {n: model.get_layer(n).output for n in (f"exit{k}_embedding", f"exit{k}_probs")}
    return tf.keras.Model(model.inputs, outs, name=f"{model.name}_exit{k}")


def _write(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def export_all(model, out_dir, progress=print):
    """Write model.tflite and exits/exit_K.tflite; returns {"model": path, "exits": [paths]}."""
    files = {"model": _write(os.path.join(out_dir, "model.tflite"), to_lce(model)), "exits": []}
    progress(f"export: {files['model']}")
    for k in range(1, len(exit_names(model)) + 1):
        path = _write(os.path.join(out_dir, "exits", f"exit_{k}.tflite"), to_lce(exit_model(model, k)))
        files["exits"].append(path)
        progress(f"export: {path}")
    return files
