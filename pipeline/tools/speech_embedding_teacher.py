"""A real pretrained *keyword-oriented* speech embedder behind TRILLsson's interface.

    brillsson speech-embedding-teacher OUT_DIR [--wheel FILE.whl] [--cache DIR] [--check WAV ...]
    brillsson run --teacher OUT_DIR --data ...

```python
from pipeline.tools import speech_embedding_teacher as tool
files = tool.read_members(tool.find_wheel(None, os.path.expanduser("~/.cache/brillsson/wheels")))
tool.save(tool.build_module(files), "teachers/speech_embedding")   # then: brillsson run --teacher ...
```

OUT_DIR gets a TensorFlow SavedModel with TRILLsson's TF-Hub interface: called on float32 audio
``[batch, samples]`` at 16 kHz in [-1, 1] it returns ``{"embedding": [batch, 96]}``; the
``serving_default`` signature takes ``audio_samples`` and returns the same dict.

The model is Google's ``speech_embedding`` (Lin et al. 2020, "Training keyword spotters with limited
and synthesized speech data", arXiv:2002.01322; TF-Hub ``google/speech_embedding/1``, Apache-2.0): a
conv net trained on a large keyword corpus, whose strength is *what was said*, the opposite kind of
teacher to a speaker encoder such as GE2E. TF-Hub cannot be reached from the machines this project is
built on, so the weights are taken from the two ONNX files that the PyPI wheel ``openwakeword==0.4.0``
ships (``melspectrogram.onnx``, ``embedding_model.onnx``: openWakeWord's re-implementation of that
model, https://github.com/dscripka/openWakeWord). Each file's sha256 is checked against the wheel's
RECORD and against the value pinned here. The wheel comes from ``--wheel``, else the cache folder,
else ``pip download --no-deps``. Nothing of the wheel is committed to this repository. Licences: the
model is Google's (Apache-2.0 on TF-Hub, as openWakeWord's README says); openWakeWord's code is
Apache-2.0 and its own wake-word models (not used here) are CC BY-NC-SA 4.0.

The graph reproduces openWakeWord 0.4.0's ``AudioFeatures._get_embeddings`` for each row:

* audio scaled to 16-bit PCM values (x 32767), as openWakeWord feeds int16 samples;
* ``melspectrogram.onnx`` (STFT as two strided 512-tap convolutions with a 160-sample hop, power,
  32 mel bands, 10·log10, floored 80 dB below the maximum), then openWakeWord's ``x / 10 + 2``;
* windows of 76 frames every 8 frames, the full ones only (a clip shorter than 12,512 samples,
  0.78 s, is zero-padded to one window), each through ``embedding_model.onnx`` (96-d);
* the clip's embedding is the mean of its windows' embeddings (Google's model gives one per window).

One departure: the 80 dB floor of ``melspectrogram.onnx`` takes the maximum over its whole input,
which openWakeWord feeds one clip at a time; here it is taken per row, so a batch gives each clip
what it would get alone.

The ONNX graphs are translated op by op into TensorFlow ops (``OPS`` below: the 20 op types these
two files use, in ONNX's NCHW layout, transposed to NHWC around convolutions and pooling because
TensorFlow's CPU kernels take NHWC). A general converter (onnx-tf, onnx2tf) would pull in a stack
that does not install beside TensorFlow 2.16; this covers exactly these files and fails loudly on
any other op. Building needs ``onnx`` (``pip install -e '.[tools]'``); ``--check`` also needs
``onnxruntime`` and compares the SavedModel with openWakeWord's own procedure run by onnxruntime.
The SavedModel itself needs only TensorFlow.
"""

from __future__ import annotations

import sys
from typing import Callable, Dict, List, Sequence

import numpy as np

from pipeline.tools.wheel import TeacherBuildError, command, find, read_wav, save_module
from pipeline.tools.wheel import read_members as _read_members
from pipeline import usage

WHEEL = "openwakeword==0.4.0"
MEMBERS = {
    "mel": "openwakeword/resources/models/melspectrogram.onnx",
    "embedding": "openwakeword/resources/models/embedding_model.onnx",
}
# sha256 of each file in openwakeword 0.4.0 as published on PyPI (also checked against the wheel's RECORD)
PINNED = {
    "mel": "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
    "embedding": "ba754db3cd768a524c655ea90655ee5e6055a43b8dfd29366a11e93716ae9e51",
}
RECORD = "openwakeword-0.4.0.dist-info/RECORD"
SAMPLE_RATE = 16000
PCM_SCALE = 32767.0
WINDOW_FRAMES = 76
WINDOW_STEP = 8
FFT_SAMPLES = 512
HOP_SAMPLES = 160
MIN_SAMPLES = FFT_SAMPLES + (WINDOW_FRAMES - 1) * HOP_SAMPLES  # one full window: 12,512 samples


def find_wheel(wheel: str | None, cache: str, quiet: bool = False) -> str:
    """Return the openWakeWord wheel: ``wheel``, else one in ``cache``, else downloaded into it."""
    return find(WHEEL, "openwakeword-0.4.0-*.whl", wheel, cache, quiet)


def read_members(wheel: str) -> Dict[str, bytes]:
    """Read the two ONNX files from the wheel, each checked against the wheel's RECORD."""
    return _read_members(wheel, MEMBERS, RECORD, PINNED, "openwakeword 0.4.0")


# ---------------------------------------------------------------------------------------------------
# ONNX -> TensorFlow, op by op
# ---------------------------------------------------------------------------------------------------


def _nchw_to_nhwc(tf, x):
    return tf.transpose(x, [0, 2, 1]) if x.shape.rank == 3 else tf.transpose(x, [0, 2, 3, 1])


def _nhwc_to_nchw(tf, x):
    return tf.transpose(x, [0, 2, 1]) if x.shape.rank == 3 else tf.transpose(x, [0, 3, 1, 2])


def _spatial_pads(tf, x, pads: Sequence[int]):
    """Apply ONNX ``pads`` ([begin..., end...] over the spatial axes) to an NHWC/NWC tensor."""
    n = len(pads) // 2
    if not any(pads):
        return x
    paddings = [[0, 0]] + [[pads[i], pads[i + n]] for i in range(n)] + [[0, 0]]
    return tf.pad(x, paddings)


def _conv(tf, node, x, w, b=None):
    if node.get("group", 1) != 1 or any(d != 1 for d in node.get("dilations", [1])):
        raise TeacherBuildError(f"Conv {node['name']}: groups and dilations are not supported")
    if node.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise TeacherBuildError(f"Conv {node['name']}: auto_pad is not supported")
    rank = len(w.shape) - 2
    y = _spatial_pads(tf, _nchw_to_nhwc(tf, x), node.get("pads", [0] * 2 * rank))
    kernel = np.transpose(w, list(range(2, 2 + rank)) + [1, 0])  # O,I,k... -> k...,I,O
    y = tf.nn.convolution(y, tf.constant(kernel), strides=list(node.get("strides", [1] * rank)), padding="VALID")
    if b is not None:
        y = y + tf.constant(b)
    return _nhwc_to_nchw(tf, y)


def _max_pool(tf, node, x):
    rank = len(node["kernel_shape"])
    y = _spatial_pads(tf, _nchw_to_nhwc(tf, x), node.get("pads", [0] * 2 * rank))
    y = tf.nn.max_pool(
        y, ksize=list(node["kernel_shape"]), strides=list(node.get("strides", [1] * rank)), padding="VALID"
    )
    return _nhwc_to_nchw(tf, y)


def _batch_norm(tf, node, x, scale, bias, mean, var):
    shape = [1, -1] + [1] * (x.shape.rank - 2)
    inv = scale / np.sqrt(var + node.get("epsilon", 1e-5))
    return x * tf.constant(inv.reshape(shape)) + tf.constant((bias - mean * inv).reshape(shape))


def _reshape(tf, node, x, shape):
    shape = [int(s) for s in shape]
    dynamic = tf.shape(x)
    target = [dynamic[i] if s == 0 else s for i, s in enumerate(shape)]  # ONNX: 0 copies the input's dim
    return tf.reshape(x, tf.stack([tf.cast(t, tf.int32) for t in target]))


def _pad(tf, node, x, pads, value=None):
    if node.get("mode", b"constant") not in (b"constant", "constant"):
        raise TeacherBuildError(f"Pad {node['name']}: only constant padding is supported")
    n = len(pads) // 2
    return tf.pad(
        x, [[int(pads[i]), int(pads[i + n])] for i in range(n)], constant_values=0.0 if value is None else float(value)
    )


def _reduce_max(tf, node, x, axes=None):
    axes = node.get("axes", axes)
    if axes is None:
        # ONNX reduces over every axis (the batch too); per row here: see the module docstring.
        return tf.reduce_max(x, axis=list(range(1, x.shape.rank)), keepdims=True)
    return tf.reduce_max(x, axis=[int(a) for a in axes], keepdims=bool(node.get("keepdims", 1)))


def _clip(tf, node, x, lo=None, hi=None):
    if lo is not None:
        x = tf.maximum(x, lo)
    if hi is not None:
        x = tf.minimum(x, hi)
    return x


def _cast(tf, node, x):
    if node["to"] != 1:  # onnx.TensorProto.FLOAT
        raise TeacherBuildError(f"Cast {node['name']}: only to float32 is supported")
    return tf.cast(x, tf.float32)


OPS: Dict[str, Callable] = {
    "Conv": _conv,
    "MaxPool": _max_pool,
    "BatchNormalization": _batch_norm,
    "Reshape": _reshape,
    "Pad": _pad,
    "ReduceMax": _reduce_max,
    "Clip": _clip,
    "Cast": _cast,
    "Unsqueeze": lambda tf, node, x, axes=None: tf.expand_dims(x, int(node.get("axes", axes)[0])),
    "Transpose": lambda tf, node, x: tf.transpose(x, list(node["perm"])),
    "Relu": lambda tf, node, x: tf.nn.relu(x),
    "LeakyRelu": lambda tf, node, x: tf.nn.leaky_relu(x, alpha=node.get("alpha", 0.01)),
    "Max": lambda tf, node, a, b: tf.maximum(a, b),
    "Add": lambda tf, node, a, b: a + b,
    "Sub": lambda tf, node, a, b: a - b,
    "Mul": lambda tf, node, a, b: a * b,
    "Div": lambda tf, node, a, b: a / b,
    "Pow": lambda tf, node, a, b: tf.pow(a, b),
    # tensordot, not a broadcast batch matmul: oneDNN's kernel for [B, 1, T, 257] x [257, 32] crashes TF 2.16
    # on a batch of more than one clip.
    "MatMul": lambda tf, node, a, b: tf.tensordot(a, b, 1) if b.shape.rank == 2 else tf.matmul(a, b),
    "Log": lambda tf, node, x: tf.math.log(x),
}
# Inputs these ops read as Python/numpy values at trace time, not as tensors.
STATIC_INPUTS = {
    "Conv": (1, 2),
    "BatchNormalization": (1, 2, 3, 4),
    "Reshape": (1,),
    "Pad": (1, 2),
    "Unsqueeze": (1,),
    "ReduceMax": (1,),
}


class OnnxGraph:
    """One ONNX graph as a callable of TensorFlow ops (``graph(x)`` inside a ``tf.function``)."""

    def __init__(self, data: bytes, name: str):
        import onnx
        from onnx import numpy_helper

        model = onnx.load_from_string(data)
        self.name = name
        self.graph = model.graph
        self.constants = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        self.nodes = []
        for n in self.graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            if n.op_type == "Constant":
                self.constants[n.output[0]] = numpy_helper.to_array(attrs["value"])
                continue
            if n.op_type not in OPS:
                raise TeacherBuildError(f"{name}: ONNX op {n.op_type} ({n.name}) is not translated")
            attrs["name"] = n.name
            self.nodes.append((n.op_type, list(n.input), list(n.output), attrs))
        (self.input,) = [i.name for i in self.graph.input if i.name not in self.constants]
        (self.output,) = [o.name for o in self.graph.output]

    def __call__(self, x):
        import tensorflow as tf

        values = {self.input: x}
        for op, inputs, outputs, attrs in self.nodes:
            static = STATIC_INPUTS.get(op, ())
            args = []
            for k, name in enumerate(inputs):
                if not name:
                    args.append(None)
                elif name in values:
                    args.append(values[name])
                elif k in static:
                    args.append(self.constants[name])
                else:
                    args.append(tf.constant(self.constants[name]))
            values[outputs[0]] = OPS[op](tf, attrs, *args)
        return values[self.output]


def build_module(files: Dict[str, bytes]):
    """The teacher as a ``tf.Module`` with TRILLsson's call and ``serving_default`` signature."""
    import tensorflow as tf

    mel = OnnxGraph(files["mel"], "melspectrogram.onnx")
    embedding = OnnxGraph(files["embedding"], "embedding_model.onnx")

    def embed(audio):
        audio = tf.convert_to_tensor(audio, tf.float32)
        short = tf.maximum(0, MIN_SAMPLES - tf.shape(audio)[1])
        audio = tf.pad(audio, [[0, 0], [0, short]]) * PCM_SCALE
        spec = mel(audio)[:, 0] / 10.0 + 2.0  # [batch, frames, 32]: openWakeWord's transform
        windows = tf.signal.frame(spec, WINDOW_FRAMES, WINDOW_STEP, axis=1)  # [batch, windows, 76, 32]
        batch, count = tf.shape(windows)[0], tf.shape(windows)[1]
        flat = tf.reshape(windows, [-1, WINDOW_FRAMES, spec.shape[-1], 1])
        vectors = tf.reshape(embedding(flat), [batch, count, -1])
        return {"embedding": tf.reduce_mean(vectors, axis=1)}

    class SpeechEmbedding(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
        def __call__(self, audio):
            return embed(audio)

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="audio_samples")])
        def serve(self, audio_samples):
            return embed(audio_samples)

    return SpeechEmbedding()


def save(module, out: str) -> str:
    """Save atomically: into a sibling temporary folder, then renamed onto ``out``."""
    return save_module(module, out)


# ---------------------------------------------------------------------------------------------------
# --check: openWakeWord's own procedure with onnxruntime
# ---------------------------------------------------------------------------------------------------


def reference(files: Dict[str, bytes], audio: np.ndarray) -> np.ndarray:
    """openWakeWord 0.4.0's ``_get_embeddings`` on one clip with onnxruntime, averaged over windows."""
    import onnxruntime as ort

    mel = ort.InferenceSession(files["mel"], providers=["CPUExecutionProvider"])
    emb = ort.InferenceSession(files["embedding"], providers=["CPUExecutionProvider"])
    if len(audio) < MIN_SAMPLES:
        audio = np.pad(audio, (0, MIN_SAMPLES - len(audio)))
    pcm = np.clip(audio * PCM_SCALE, -32768, 32767).astype(np.float32)
    spec = np.squeeze(mel.run(None, {"input": pcm[None]})[0]) / 10 + 2
    windows = [spec[i : i + WINDOW_FRAMES] for i in range(0, spec.shape[0], WINDOW_STEP)]
    batch = np.array([w for w in windows if w.shape[0] == WINDOW_FRAMES], np.float32)[..., None]
    return emb.run(None, {"input_1": batch})[0].reshape(len(batch), -1).mean(axis=0)


def check(out: str, files: Dict[str, bytes], wavs: List[str], quiet: bool = False) -> float:
    """Largest relative difference between the saved teacher and the reference over ``wavs``."""
    import tensorflow as tf

    teacher = tf.saved_model.load(out)
    worst = 0.0
    for path in wavs:
        audio = read_wav(path)
        got = teacher(tf.constant(audio[None]))["embedding"].numpy()[0]
        want = reference(files, audio)
        diff = float(np.abs(got - want).max() / max(1e-6, np.abs(want).max()))
        if not quiet:
            print(f"{path}: max |difference| / max |reference| = {diff:.2e}", file=sys.stderr)
        worst = max(worst, diff)
    return worst


def main(argv: Sequence[str] | None = None, prog: str = "brillsson speech-embedding-teacher") -> str:
    """The command: build (and optionally check) the teacher; returns its folder."""
    return command(
        argv,
        prog=prog,
        description=usage.summary(__doc__),
        wheel_name="the openwakeword-0.4.0 wheel",
        check_help="openWakeWord's procedure under onnxruntime",
        read=lambda wheel, cache, quiet: read_members(find_wheel(wheel, cache, quiet)),
        build=build_module,
        check=check,
        dims=96,
        relative=True,
    )


if __name__ == "__main__":
    main()
