"""Conversion of a multi-exit student: full model, per-exit sub-graphs, staged segments.

```python
from export import convert
from export.layout import Layout
files = convert.export_all(model, Layout("OUT"))   # model, exits/, stages/, portable files, float reference
fb = convert.to_lce(model)                  # LCE flatbuffer: binary QuantConv2D → LceBconv2d
fb = convert.to_portable(model)             # stock TFLite ops only (sign + float conv)
```
A stage k takes the activation at block boundary k-1 (stage 1 takes audio) and returns
`activation` (absent for the last stage) and `exitK_probs`, so a runtime can stop at the
first confident exit without running later blocks.
"""
import dataclasses
from typing import List, Optional

import larq_compute_engine as lce
import tensorflow as tf

from export import manifest
from export.files import atomic_write
from export.layout import Layout
from models.students import EMBEDDING, POOL, PROBS, exit_names, output_name

ACTIVATION = "activation"  # a stage's output that the next stage takes


@dataclasses.dataclass(frozen=True)
class ExportedFiles:
    """The files one export wrote (absolute paths)."""
    model: str
    exits: List[str]
    stages: List[str]
    float_reference: str
    portable: Optional[str] = None
    stages_portable: List[str] = dataclasses.field(default_factory=list)

    def all(self):
        return [p for p in (self.model, *self.exits, *self.stages, self.portable, *self.stages_portable,
                            self.float_reference) if p]


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
    outs = {n: model.get_layer(n).output for n in (output_name(k, EMBEDDING), output_name(k, PROBS))}
    return tf.keras.Model(model.inputs, outs, name=f"{model.name}_exit{k}")


def boundary(model, k):
    """The activation at block boundary k (what exit k pools)."""
    return model.get_layer(output_name(k, POOL)).input


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
    ends = {output_name(k, PROBS): model.get_layer(output_name(k, PROBS)).output}
    if k < n:
        ends[ACTIVATION] = boundary(model, k)
    if k == 1:
        inp, outs = model.inputs, dict(ends)
    else:
        inp, outs = _subgraph(model, boundary(model, k - 1), ends, input_name=f"activation{k - 1}")
    if ACTIVATION in outs:  # Keras names outputs after their layer: give the activation a fixed name
        outs[ACTIVATION] = tf.keras.layers.Activation("linear", name=ACTIVATION)(outs[ACTIVATION])
    return tf.keras.Model(inp, outs, name=f"{model.name}_stage{k}")


def export_all(model, layout, portable=True, progress=None):
    """Write every file of a run's output folder (`export.layout.Layout`) that comes from the model.

    Returns the `ExportedFiles`.
    """
    layout = layout if isinstance(layout, Layout) else Layout(layout)
    say = progress or (lambda msg: None)
    manifest.begin(layout)  # the previous export is no longer trusted; `manifest.write` seals the new one
    n = len(exit_names(model))
    model_path = atomic_write(layout.model, to_lce(model))
    exits = [atomic_write(layout.exit(k), to_lce(exit_model(model, k))) for k in range(1, n + 1)]
    stages = [atomic_write(layout.stage(k), to_lce(stage_model(model, k))) for k in range(1, n + 1)]
    say(f"export: model.tflite, {n} exits, {n} stages (LCE) in {layout.root}")
    float_reference = atomic_write(layout.float_reference, to_portable(exit_model(model, n)))
    if not portable:
        return ExportedFiles(model_path, exits, stages, float_reference)
    files = ExportedFiles(model_path, exits, stages, float_reference, atomic_write(layout.model_portable, to_portable(model)),
                          [atomic_write(layout.stage(k, portable=True), to_portable(stage_model(model, k)))
                           for k in range(1, n + 1)])
    say("export: model_portable.tflite, stages_portable/ and float_reference.tflite (stock TFLite ops only)")
    return files
