"""int8 and float16 weight storage for a converted flatbuffer: the dense layers' weights in a quarter of
the bytes, a front end's fixed filters in a half.

```python
from export import weights
small = weights.compact(fb)                 # same ops, float compute; dense weights stored as int8
weights.compact(fb, lossy_ops=())           # only the weights int8 or float16 store exactly
```
LCE's converter has no post-training quantization, and full int8 (activations too) needs
fake-quant nodes in training. This is the other half, which needs neither: a large float32
weight becomes an int8 tensor (symmetric, one scale per output channel) and a DEQUANTIZE op in
front of its layer. TFLite dequantizes a stored tensor once, when the interpreter is prepared,
so the layers still compute in float at the same speed: only the file shrinks (the weights in
memory stay float32).

Which weights (int8 first, else float16):
- any weight of a CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED layer that int8 stores exactly
  (each channel's values in {-m, 0, +m}: the ±1 weights of the portable files' binary
  convolutions; or on the int8 grid already: a front end's filters built with `filters="int8"`,
  classifiers rounded by `models.students.classifiers_on_int8_grid`);
- any other weight of those layers that float16 stores exactly, as float16 (half the bytes; TFLite's
  DEQUANTIZE takes float16 too, and XNNPACK folds it into the layer): a front end's filters built
  with `filters="float16"` (the default, `models.frontend.filter_bank`);
- the other weights of the layers in `lossy_ops` (FULLY_CONNECTED by default: the classifier and
  embedding heads), rounded by at most half a step (the channel's largest magnitude / 254).

The convolutions' other float weights (the stem, a front end built with `filters="float32"`) stay float32: a
rounded front end changes the input of every binary layer, and a binary network turns small changes
into sign flips (measured on the demo: int8 or float16 front-end filters rounded after training
changed 3 % of the last exit's decisions). A front end built on the int8 grid (`--frontend-filters
int8`: `LogMel(filters="int8")`, `models.int8.on_grid`) is stored as int8 exactly, since the network
trained with the values the file holds; it costs accuracy (docs/experiments/early-exit.md).
`export.convert.export_all` rounds only the embedding model's heads: the classifier files store only
what int8 holds exactly, so their decisions are the Keras model's (rounded here, the classifier heads
changed 1 of 64 of the demo's decisions; a run rounds them in the Keras model instead, before it
scores it: `models.students.classifiers_on_int8_grid`). LCE's binary convolutions are bit-packed already.

The flatbuffer is read and written with TensorFlow's own schema object API
(`tensorflow.lite.tools.flatbuffer_utils`), not re-implemented here.
"""

import collections

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from models.int8 import dequantize, quantize

# op → (index of its weight input, the weight's output-channel axis in TFLite's layout)
WEIGHT_INPUTS = {
    schema.BuiltinOperator.CONV_2D: (1, 0),  # [out, kh, kw, in]
    schema.BuiltinOperator.DEPTHWISE_CONV_2D: (1, 3),  # [1, kh, kw, out]
    schema.BuiltinOperator.FULLY_CONNECTED: (1, 0),  # [units, in]
}
LOSSY_OPS = ("FULLY_CONNECTED",)
# DEQUANTIZE's version for per-channel int8 input (tensorflow/lite/tools/versioning/op_version.cc)
_DEQUANTIZE_VERSION = 4


def _opcode(model, builtin):
    """The index of `builtin`'s operator code in the model, added when absent."""
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            code.version = max(code.version, _DEQUANTIZE_VERSION)
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = _DEQUANTIZE_VERSION
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def compact(fb: bytes, min_elements: int = 1024, lossy_ops=LOSSY_OPS) -> bytes:
    """Store a flatbuffer's weights as int8 or float16 where the module docstring says.

    Args:
        fb: a TFLite flatbuffer (LCE's or the stock converter's).
        min_elements: leave weights with fewer elements float (a small tensor saves little and a
            DEQUANTIZE op costs a few hundred bytes).
        lossy_ops: op names ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D") whose weights are
            rounded to int8; the other ops' weights only where int8 or float16 is exact.

    Returns:
        The new flatbuffer (bytes): the same inputs, outputs and signatures; each chosen weight stored
        as int8 or float16 behind a DEQUANTIZE op (`fb` itself when there is none).
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(fb))
    users = collections.Counter(t.buffer for g in model.subgraphs for t in g.tensors)
    dequantize_op = None
    for graph in model.subgraphs:
        done, front = set(), []
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            spec = None if code.customCode else WEIGHT_INPUTS.get(builtin)
            if spec is None or len(op.inputs) <= spec[0] or op.inputs[spec[0]] in done:
                continue
            index, axis = op.inputs[spec[0]], spec[1]
            tensor = graph.tensors[index]
            data = model.buffers[tensor.buffer].data
            if tensor.type != schema.TensorType.FLOAT32 or data is None or len(data) < 4 * max(1, min_elements):
                continue
            w = np.frombuffer(bytes(bytearray(data)), np.float32).reshape(tensor.shape)
            q, scale = quantize(w, axis)
            half = None
            if _NAMES[builtin] not in lossy_ops and not np.array_equal(dequantize(q, scale, axis), w):
                half = w.astype(np.float16)
                if not np.array_equal(half.astype(np.float32), w):
                    continue  # neither int8 nor float16 holds it exactly: it stays float32
            # the float tensor becomes DEQUANTIZE's output, with an empty buffer of its own; the float
            # data goes unless another tensor shares it
            if users[tensor.buffer] == 1:
                model.buffers[tensor.buffer].data = None
            model.buffers.append(schema.BufferT())
            tensor.buffer = len(model.buffers) - 1
            stored = schema.BufferT()
            stored.data = np.frombuffer((q if half is None else half).tobytes(), np.uint8)
            model.buffers.append(stored)
            packed = schema.TensorT()
            packed.shape, packed.buffer = list(tensor.shape), len(model.buffers) - 1
            if half is None:
                quant = schema.QuantizationParametersT()
                quant.scale, quant.zeroPoint, quant.quantizedDimension = scale.tolist(), [0] * scale.size, axis
                packed.type, packed.quantization = schema.TensorType.INT8, quant
                packed.name = (tensor.name or b"weight") + b"/int8"
            else:
                packed.type, packed.name = schema.TensorType.FLOAT16, (tensor.name or b"weight") + b"/float16"
            graph.tensors.append(packed)
            if dequantize_op is None:
                dequantize_op = _opcode(model, schema.BuiltinOperator.DEQUANTIZE)
            op_t = schema.OperatorT()
            op_t.opcodeIndex, op_t.inputs, op_t.outputs = dequantize_op, [len(graph.tensors) - 1], [index]
            front.append(op_t)
            done.add(index)
        graph.operators = front + list(graph.operators)  # constant inputs: first is topological order
    if dequantize_op is None:
        return bytes(fb)  # nothing to store as int8 or float16: the file as it was, byte for byte
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
