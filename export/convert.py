"""Conversion of a multi-exit student into its two deliverables.

```python
from export import convert
from export.layout import Layout
files = convert.export_all(model, Layout("OUT"))   # every file below
fb = convert.to_lce(convert.classifier_model(model))   # LCE flatbuffer: binary QuantConv2D → LceBconv2d
fb = convert.to_portable(model)             # stock TFLite ops only (sign + float conv)
```
- The early-exit **classifier**: `model.tflite` (every exit's probabilities), `exits/` (exit k
  alone), `stages/` and `stages_portable/` (a stage k takes the activation at block boundary
  k-1, stage 1 takes audio, and returns `activation` (absent for the last stage) and
  `exitK_probs`, so a runtime stops at the first confident exit without running later blocks),
  and `stream/` (`frontend.tflite`: a block of audio → its log-mel frames; `stage_1.tflite`:
  the log-mel frames → stage 1's outputs, so a live runtime computes only the new frames once
  per hop). No teacher-sized layer is on the path to a decision.
- The **embedding model** `embedding.tflite`: audio → every exit's distilled embedding
  (`exitK_embedding`), its float heads factorised to `embedding_rank` (see `embedding_model`).
"""

import dataclasses
from typing import List, Optional

import larq_compute_engine as lce
import numpy as np
import tensorflow as tf

from export import manifest, names
from export import stream as stream_lib
from export import weights
from export.files import atomic_write
from export.layout import Layout
from models.frontend import LogMel
from models.students import EMBEDDING, FRONTEND, POOL, PROBS, exit_ensemble, exit_names, output_name

ACTIVATION = "activation"  # a stage's output that the next stage takes


@dataclasses.dataclass(frozen=True)
class ExportedFiles:
    """The files one export wrote (absolute paths)."""

    model: str
    exits: List[str]
    stages: List[str]
    float_reference: str
    embedding: str
    stream: List[str]  # stream/frontend.tflite, stream/stage_1.tflite, stream/stream.json
    portable: Optional[str] = None
    stages_portable: List[str] = dataclasses.field(default_factory=list)

    def all(self):
        """Every file of the export.

        Returns:
            The absolute paths written, those that are None (no portable model) left out.
        """
        return [
            p
            for p in (
                self.model,
                *self.exits,
                *self.stages,
                self.embedding,
                *self.stream,
                self.portable,
                *self.stages_portable,
                self.float_reference,
            )
            if p
        ]


def to_lce(model, target="arm", int8=None):
    """Convert with LCE: binary QuantConv2D layers become LceBconv2d.

    Args:
        model: a Keras model (a student, or a part of one such as `classifier_model`).
        target: LCE's converter target ("arm" or "xcore").
        int8: None keeps every weight float32; a tuple of op names stores weights as int8
            (`export.weights.compact`): those ops' weights rounded, the others' only where exact.

    Returns:
        The LCE flatbuffer (bytes), float32 input and outputs; intermediate tensors unnamed (`names.strip`).
    """
    fb = lce.convert_keras_model(
        model, inference_input_type=tf.float32, inference_output_type=tf.float32, target=target
    )
    return names.strip(fb if int8 is None else weights.compact(fb, lossy_ops=int8))


def to_portable(model, int8=None):
    """Convert with TensorFlow's stock converter: no custom ops, runs on any TFLite runtime.

    The binary convolutions become float convolutions on ±1 inputs and weights, so the
    outputs equal the LCE model's up to float rounding.

    Args:
        model: a Keras model.
        int8: as `to_lce`'s (here the ±1 weights of the binary convolutions are stored exactly).

    Returns:
        The stock TFLite flatbuffer (bytes); intermediate tensors unnamed (`names.strip`).
    """
    fb = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    return names.strip(fb if int8 is None else weights.compact(fb, lossy_ops=int8))


def to_int8(model, representative, batch=1):
    """Convert with TensorFlow's stock converter to int8 (post-training quantization: weights and
    activations int8, ranges from `representative` clips; float32 input and output). The batch is
    fixed at `batch`, so every shape is static.

    The in-graph front end (every `LogMel` layer) stays float, as the student's does and as in
    kws_streaming's and microWakeWord's models, whose front end runs before the int8 network: a band's
    energy spans 60 dB and more between quiet and loud audio, and on int8's 256 steps the quiet bands
    round to zero (on the keywords task a DS-CNN fell from 0.925 float to 0.487 with its front end
    int8; docs/experiments/early-exit.md). Its filters are stored as float16 where float16 holds them
    exactly (`export.weights.compact`; the default `filters="float16"`).

    Args:
        model: a float Keras model with one input.
        representative: [n, ...] inputs that set the activation ranges (a hundred or so clips).
        batch: the batch size the file takes.

    Returns:
        The flatbuffer (bytes); it runs on any TFLite runtime (XNNPACK runs its int8 ops).
    """
    spec = tf.TensorSpec([batch, *model.inputs[0].shape[1:]], tf.float32)
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None].astype("float32")] for x in representative)
    # TensorFlow's one public way to keep chosen tensors float in post-training quantization is its
    # quantization debugger's deny list (tensor names); it calibrates once, then quantizes
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=converter.representative_dataset
    )
    scopes = [f"/{layer.name}/" for layer in model.layers if isinstance(layer, LogMel)]
    front = [
        t["name"]
        for t in tf.lite.Interpreter(model_content=debugger.calibrated_model).get_tensor_details()
        if any(s in f"/{t['name']}" for s in scopes)
    ]
    if front:
        debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=front)
    return weights.compact(debugger.get_nondebug_quantized_model(), lossy_ops=())


def exit_model(model, k):
    """audio → exit k's classifier only ({exitK_probs}).

    Args:
        model: a student built by `models.students.build`.
        k: the exit, 1-based.

    Returns:
        A Keras model on the student's input (same weights) with the one output exitK_probs.
    """
    outs = {output_name(k, PROBS): model.get_layer(output_name(k, PROBS)).output}
    return tf.keras.Model(model.inputs, outs, name=f"{model.name}_exit{k}")


def classifier_model(model):
    """audio → every exit's probabilities (no embedding head).

    Args:
        model: a student built by `models.students.build`.

    Returns:
        A Keras model on the student's input (same weights) with outputs {exitK_probs}.
    """
    outs = {n: model.get_layer(n).output for n in exit_names(model, PROBS)}
    return tf.keras.Model(model.inputs, outs, name=f"{model.name}_classifier")


def low_rank(kernel, bias, rank):
    """A dense layer's kernel [c, d] as two factors [c, r] · [r, d] (truncated SVD, the best rank-r
    approximation) with the bias on the second; None when `rank` would not make it smaller.

    Args:
        kernel: the dense kernel, an array [c, d].
        bias: the dense bias [d], passed through unchanged.
        rank: r, the inner size of the factors; None or 0 keeps the full kernel.

    Returns:
        (a [c, r] float32, b [r, d] float32, bias), or None when r × (c + d) >= c × d or `rank` is unset.
    """
    c, d = kernel.shape
    if not rank or rank * (c + d) >= c * d:
        return None
    u, sv, vt = np.linalg.svd(kernel, full_matrices=False)
    return (u[:, :rank] * sv[:rank]).astype(np.float32), vt[:rank].astype(np.float32), bias


def embedding_model(model, rank=None, exits=None, ensemble=False):
    """audio → {exitK_embedding} for `exits` (default every exit), with each float embedding head
    replaced by its rank-`rank` factorisation (`low_rank`; None keeps the full head).

    The heads are float (LCE has no binary dense op): exit k's costs channels × teacher dim
    floats, most of the file. A rank-r factor pair costs r × (channels + teacher dim).
    With `ensemble`, exit k's embedding is the mean of the heads of exits 1..k
    (`models.students.exit_ensemble`; an ADD and a MUL per exit).

    Args:
        model: a student built by `models.students.build` (trained: the factors come from its weights).
        rank: the rank of each head's factorisation; None keeps every head full.
        exits: the exits (1-based) to include; None: every exit.
        ensemble: exit k's embedding is the mean of heads 1..k, not its own head alone.

    Returns:
        A Keras model on the student's input with outputs {exitK_embedding}.
    """
    names = exit_names(model, EMBEDDING)
    ks = list(exits) if exits else list(range(1, len(names) + 1))
    heads = {}
    for k in range(1, max(ks) + 1) if ensemble else ks:
        head = model.get_layer(output_name(k, EMBEDDING))
        pooled = head.input  # exit{k}_pool's output, or exits 1..k's concatenated (students.build's aggregate)
        kernel, bias = (w.numpy() for w in (head.kernel, head.bias))
        factors = low_rank(kernel, bias, rank)
        # with the ensemble the heads are inner layers and the means take the output names
        name = f"exit{k}_embedding_head" if ensemble and k > 1 else output_name(k, EMBEDDING)
        if factors is None:
            if name == head.name:
                heads[k] = head.output
                continue
            dense = tf.keras.layers.Dense(kernel.shape[1], name=name)
            heads[k] = dense(pooled)
            dense.set_weights([kernel, bias])
            continue
        a, b, bias = factors
        down = tf.keras.layers.Dense(a.shape[1], use_bias=False, name=f"exit{k}_embedding_low_rank")
        up = tf.keras.layers.Dense(b.shape[1], name=name)
        heads[k] = up(down(pooled))
        down.set_weights([a])
        up.set_weights([b, bias])
    if ensemble:
        ordered = [heads[k] for k in sorted(heads)]
        means = exit_ensemble(ordered, [output_name(k, EMBEDDING) for k in sorted(heads)])
        heads = dict(zip(sorted(heads), means))
    outs = {output_name(k, EMBEDDING): heads[k] for k in ks}
    return tf.keras.Model(model.inputs, outs, name=f"{model.name}_embedding")


def frontend_model(model):
    """Audio of any length [1, samples] → its log-mel frames [1, frames, bins, 1], with the model's own
    `LogMel` settings (the streaming runtime calls it once per hop on that hop's new frames).

    Args:
        model: a student whose front end is the `LogMel` layer named `FRONTEND`.

    Returns:
        A Keras model with the input "audio_block" [batch, None] and the log-mel frames as output.
    """
    audio = tf.keras.Input((None,), name="audio_block")
    layer = model.get_layer(FRONTEND)
    frame = LogMel.from_config(layer.get_config())(audio)  # every setting, present and future, and its name
    return tf.keras.Model(audio, frame, name=f"{model.name}_frontend")


def streaming_stage_model(model):
    """Stage 1 from log-mel frames [1, frames, bins, 1] instead of audio (same weights).

    Args:
        model: a student built by `models.students.build`.

    Returns:
        A Keras model with the input "log_mel" and stage 1's outputs ({exit1_probs, "activation"}).

    Raises:
        ValueError: when stage 1's outputs depend on more than the front end's output.
    """
    first = stage_model(model, 1)
    inp, outs = _subgraph(
        first, first.get_layer(FRONTEND).output, dict(zip(first.output_names, first.outputs)), input_name="log_mel"
    )
    return tf.keras.Model(inp, outs, name=f"{model.name}_stream_stage1")


def boundary(model, k):
    """The activation at block boundary k (what exit k pools).

    Args:
        model: a student built by `models.students.build`.
        k: the boundary (exit), 1-based.

    Returns:
        The Keras tensor that is the input of layer exitK_pool.
    """
    return model.get_layer(output_name(k, POOL)).input


def _subgraph(model, start, ends, input_name):
    """`model`'s layers (shared weights) from tensor `start` to the tensors `ends`, on a new input.

    Keras' public functional API cut: a `Model` from an intermediate tensor to later ones, then
    called on a fresh `Input` named `input_name`. It needs no connection that skips over `start`.

    Args:
        model: the functional model `start` and `ends` belong to.
        start: the Keras tensor the new input replaces.
        ends: {name: Keras tensor} computed from `start` alone.
        input_name: the new input's name (the flatbuffer's input signature).

    Returns:
        (the new input, {name: output tensor}).

    Raises:
        ValueError: when an end depends on more than `start`.
    """
    inp = tf.keras.Input(start.shape[1:], name=input_name)
    try:
        cut = tf.keras.Model(start, dict(ends), name=f"{model.name}_from_{input_name}")
    except ValueError as e:  # Keras: "Graph disconnected"
        raise ValueError(f"{sorted(ends)} do not depend only on the activation at the stage boundary") from e
    # outputs of a nested model are named after it: an identity per end gives the file its output names
    return inp, {n: tf.keras.layers.Activation("linear", name=n)(t) for n, t in cut(inp).items()}


def stage_model(model, k):
    """Segment k: activation k-1 (audio for k = 1) → {"activation" (k < K), "exitK_probs"}.

    Args:
        model: a student built by `models.students.build`.
        k: the stage, 1-based (K, the number of exits, is the last).

    Returns:
        A Keras model (same weights) named "<model>_stage<k>"; its input is "activation<k-1>" for k > 1.

    Raises:
        ValueError: when the stage's outputs depend on more than the activation at boundary k-1.
    """
    n = len(exit_names(model))
    ends = {output_name(k, PROBS): model.get_layer(output_name(k, PROBS)).output}
    if k < n:
        ends[ACTIVATION] = boundary(model, k)
    if k == 1:
        inp, outs = model.inputs, dict(ends)
    else:
        inp, outs = _subgraph(model, boundary(model, k - 1), ends, input_name=f"activation{k - 1}")
    if k == 1 and ACTIVATION in outs:  # Keras names outputs after their layer: give the activation a fixed name
        outs[ACTIVATION] = tf.keras.layers.Activation("linear", name=ACTIVATION)(outs[ACTIVATION])
    return tf.keras.Model(inp, outs, name=f"{model.name}_stage{k}")


def _int8_policy(int8):
    """(classifier files', embedding files') `int8` argument of `to_lce` / `to_portable`.

    The classifiers keep their decisions exactly: only weights int8 holds exactly (the ±1 weights, and
    classifiers the pipeline rounded to the int8 grid before scoring them). The embedding heads, most
    of embedding.tflite's bytes, are rounded (cosine to the float heads' embeddings above 0.99).
    """
    return ((), weights.LOSSY_OPS) if int8 else (None, None)


def export_float_twin(twin, layout, embedding_rank=None, int8=True, ensemble=False):
    """float_twin/exit_K.tflite: each exit's classifier of the trained float twin, stock TFLite ops
    (timed with XNNPACK beside the binary exits), and float_twin/embedding.tflite (its exits'
    embeddings, heads factorised as the binary student's: what `pipeline.evaluate` probes beside
    the binary's). Returns (exit paths, embedding path).

    Args:
        twin: the trained float twin (`models.students.float_twin`).
        layout: the run's output folder, a `Layout` or a path.
        embedding_rank: the rank of the factorised embedding heads (`low_rank`); None keeps them full.
        int8: store weights as int8 as `export_all` does for the binary student's files.
        ensemble: exit k's embedding is the mean of heads 1..k (`embedding_model`), as the student's.

    Returns:
        (the paths of float_twin/exit_K.tflite ordered by K, the path of float_twin/embedding.tflite).
    """
    layout = layout if isinstance(layout, Layout) else Layout(layout)
    classifier, heads = _int8_policy(int8)
    exits = [
        atomic_write(layout.float_twin_exit(k), to_portable(exit_model(twin, k), classifier))
        for k in range(1, len(exit_names(twin)) + 1)
    ]
    embedding = to_portable(embedding_model(twin, embedding_rank, ensemble=ensemble), heads)
    return exits, atomic_write(layout.float_twin_embedding, embedding)


def export_all(model, layout, portable=True, progress=None, embedding_rank=None, int8=True, ensemble=False):
    """Write every file of a run's output folder (`export.layout.Layout`) that comes from the model.

    Returns the `ExportedFiles`.

    Args:
        model: the trained student (`models.students.build`).
        layout: the run's output folder, a `Layout` or a path.
        portable: also write model_portable.tflite and stages_portable/ (stock TFLite ops).
        progress: a function called with a one-line message after each group of files; None: silent.
        embedding_rank: the rank of the factorised embedding heads in embedding.tflite; None keeps them full.
        int8: store weights as int8 (`export.weights`) in every file but float_reference.tflite: in
            embedding.tflite the dense heads rounded, in the classifier files only what int8 holds exactly.
        ensemble: in embedding.tflite, exit k's embedding is the mean of heads 1..k (`embedding_model`).

    Returns:
        The `ExportedFiles` (absolute paths); without `portable`, no portable model and no portable stages.
    """
    layout = layout if isinstance(layout, Layout) else Layout(layout)
    say = progress or (lambda msg: None)
    classifier, heads = _int8_policy(int8)
    manifest.begin(layout)  # the previous export is no longer trusted; `manifest.write` seals the new one
    n = len(exit_names(model))
    model_path = atomic_write(layout.model, to_lce(classifier_model(model), int8=classifier))
    exits = [atomic_write(layout.exit(k), to_lce(exit_model(model, k), int8=classifier)) for k in range(1, n + 1)]
    stages = [atomic_write(layout.stage(k), to_lce(stage_model(model, k), int8=classifier)) for k in range(1, n + 1)]
    first = streaming_stage_model(model)
    stream = [
        atomic_write(layout.stream_frontend, to_portable(frontend_model(model), classifier)),
        atomic_write(layout.stream_stage1, to_lce(first, int8=classifier)),
        stream_lib.write_settings(
            layout,
            model.get_layer(FRONTEND).params,
            first.inputs[0].shape[1],
            model.inputs[0].shape[1],
            kind=model.get_layer(FRONTEND).kind,
        ),
    ]
    embedding = atomic_write(
        layout.embedding, to_lce(embedding_model(model, embedding_rank, ensemble=ensemble), int8=heads)
    )
    say(
        f"export: classifier model.tflite, {n} exits, {n} stages, stream/ (LCE); embedding.tflite (heads "
        f"{'rank ' + str(embedding_rank) if embedding_rank else 'full rank'}"
        f"{', exit k the mean of heads 1..k' if ensemble else ''}) in {layout.root}"
    )
    float_reference = atomic_write(layout.float_reference, to_portable(exit_model(model, n)))
    if not portable:
        return ExportedFiles(model_path, exits, stages, float_reference, embedding, stream)
    files = ExportedFiles(
        model_path,
        exits,
        stages,
        float_reference,
        embedding,
        stream,
        atomic_write(layout.model_portable, to_portable(classifier_model(model), classifier)),
        [
            atomic_write(layout.stage(k, portable=True), to_portable(stage_model(model, k), classifier))
            for k in range(1, n + 1)
        ],
    )
    say("export: model_portable.tflite, stages_portable/ and float_reference.tflite (stock TFLite ops only)")
    return files
