"""Conversion of a multi-exit student: full model, per-exit sub-graphs, staged segments.

```python
from export import convert
files = convert.export_all(model, "OUT")   # model.tflite, exits/, stages/, model_portable.tflite, stages_portable/
fb = convert.to_lce(model)                  # LCE flatbuffer: binary QuantConv2D → LceBconv2d
fb = convert.to_portable(model)             # stock TFLite ops only (sign + float conv)
```
A stage k takes the activation at block boundary k-1 (stage 1 takes audio) and returns
`activation` (absent for the last stage) and `exitK_probs`, so a runtime can stop at the
first confident exit without running later blocks.
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


def to_portable(model):
    """Convert with TensorFlow's stock converter: no custom ops, runs on any TFLite runtime.

    The binary convolutions become float convolutions on ±1 inputs and weights, so the
    outputs equal the LCE model's up to float rounding.
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return converter.convert()


def exit_model(model, k):
    """audio → exit k only ({exitK_embedding, exitK_probs})."""
    outs = {n: model.get_layer(n).output for n in (f"exit{k}_embedding", f"exit{k}_probs")}
    return tf.keras.Model(model.inputs, outs, name=f"{model.name}_exit{k}")


def boundary(model, k):
    """The activation at block boundary k (what exit k pools)."""
    return model.get_layer(f"exit{k}_pool").input


def _subgraph(model, start, ends, input_name):
    """Re-apply `model`'s layers (shared weights) from tensor `start` to the tensors `ends`.

    Walks the functional graph the way Keras' own `_run_internal_graph` does, computing every
    node whose inputs are available; it needs no connection that skips over `start`.
    """
    inp = tf.keras.Input(start.shape[1:], name=input_name)
    many = 1 << 16  # Node.map_arguments pops one entry per use
    computed = {str(id(start)): [inp] * many}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.is_input or any(t not in computed for t in node.flat_input_ids):
                continue
            if all(t in computed for t in node.flat_output_ids):
                continue
            args, kwargs = node.map_arguments(computed)
            outs = node.layer(*args, **kwargs)
            for t_id, y in zip(node.flat_output_ids, tf.nest.flatten(outs)):
                computed[t_id] = [y] * many
    missing = [n for n, t in ends.items() if str(id(t)) not in computed]
    if missing:
        raise ValueError(f"{missing} do not depend only on the activation at the stage boundary")
    return inp, {n: computed[str(id(t))][0] for n, t in ends.items()}


def stage_model(model, k):
    """Segment k: activation k-1 (audio for k = 1) → {"activation" (k < K), "exitK_probs"}."""
    n = len(exit_names(model))
    ends = {f"exit{k}_probs": model.get_layer(f"exit{k}_probs").output}
    if k < n:
        ends["activation"] = boundary(model, k)
    if k == 1:
        inp, outs = model.inputs, dict(ends)
    else:
        inp, outs = _subgraph(model, boundary(model, k - 1), ends, input_name=f"activation{k - 1}")
    if "activation" in outs:  # Keras names outputs after their layer: give the activation a fixed name
        outs["activation"] = tf.keras.layers.Activation("linear", name="activation")(outs["activation"])
    return tf.keras.Model(inp, outs, name=f"{model.name}_stage{k}")


def _write(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def export_all(model, out_dir, portable=True, progress=print):
    """Write every file of DESIGN.md's output folder that comes from the model.

    Returns {"model", "exits": [..], "stages": [..], "portable", "stages_portable": [..]}.
    """
    n = len(exit_names(model))
    files = {"model": _write(os.path.join(out_dir, "model.tflite"), to_lce(model)), "exits": [], "stages": []}
    for k in range(1, n + 1):
        files["exits"].append(_write(os.path.join(out_dir, "exits", f"exit_{k}.tflite"), to_lce(exit_model(model, k))))
        files["stages"].append(_write(os.path.join(out_dir, "stages", f"stage_{k}.tflite"), to_lce(stage_model(model, k))))
    progress(f"export: model.tflite, {n} exits, {n} stages (LCE) in {out_dir}")
    if portable:
        files["portable"] = _write(os.path.join(out_dir, "model_portable.tflite"), to_portable(model))
        files["stages_portable"] = [
            _write(os.path.join(out_dir, "stages_portable", f"stage_{k}.tflite"), to_portable(stage_model(model, k)))
            for k in range(1, n + 1)]
        progress("export: model_portable.tflite and stages_portable/ (stock TFLite ops only)")
    return files
