"""int8 weight storage for a converted flatbuffer: the float layers' weights in a quarter of the bytes.

```python
from export import weights
small = weights.int8_weights(fb)            # same ops, float compute; big float weights stored as int8
weights.int8_weights(fb, min_elements=0)    # every float weight of a conv or dense layer
```
LCE's converter has no post-training quantization, and full int8 (activations too) needs
fake-quant nodes in training. This is the other half, which needs neither: each large float32
weight of a CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED becomes an int8 tensor (symmetric,
one scale per output channel) and a DEQUANTIZE op in front of the layer. TFLite dequantizes a
constant input once, when the interpreter is prepared, so the layers still compute in float
at the same speed: only the file shrinks (the weights in memory stay float32). The binary
convolutions' weights are bit-packed already and are not touched.

The change is rounding: every weight moves by at most half a step (its channel's largest
magnitude / 254; `models.int8`). Weights built on the int8 grid (`models.int8.grid`, as the "gabor" front end's
fixed filters are) come back exactly.

The flatbuffer is read and written with TensorFlow's own schema object API
(`tensorflow.lite.tools.flatbuffer_utils`), not re-implemented here.
"""

import collections

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from models import int8

# op → (index of its weight input, the weight's output-channel axis in TFLite's layout)
WEIGHT_INPUTS = {
    schema.BuiltinOperator.CONV_2D: (1, 0),  # [out, kh, kw, in]
    schema.BuiltinOperator.DEPTHWISE_CONV_2D: (1, 3),  # [1, kh, kw, out]
    schema.BuiltinOperator.FULLY_CONNECTED: (1, 0),  # [units, in]
}
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


def int8_weights(fb: bytes, min_elements: int = 1024) -> bytes:
    """Store the float weights of a flatbuffer's conv and dense layers as int8 (see the module docstring).

    Args:
        fb: a TFLite flatbuffer (LCE's or the stock converter's).
        min_elements: leave weights with fewer elements float (a small tensor saves little and
            a DEQUANTIZE op costs a few hundred bytes).

    Returns:
        The new flatbuffer (bytes): the same inputs, outputs and signatures; each weight of at least
        `min_elements` elements stored as int8 behind a DEQUANTIZE op.
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(fb))
    users = collections.Counter(t.buffer for g in model.subgraphs for t in g.tensors)
    dequantize = None
    for graph in model.subgraphs:
        done, front = set(), []
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            spec = None if code.customCode else WEIGHT_INPUTS.get(max(code.builtinCode, code.deprecatedBuiltinCode))
            if spec is None or len(op.inputs) <= spec[0] or op.inputs[spec[0]] in done:
                continue
            index, axis = op.inputs[spec[0]], spec[1]
            tensor = graph.tensors[index]
            data = model.buffers[tensor.buffer].data
            if tensor.type != schema.TensorType.FLOAT32 or data is None or len(data) < 4 * max(1, min_elements):
                continue
            w = np.frombuffer(bytes(bytearray(data)), np.float32).reshape(tensor.shape)
            q, scale = int8.quantize(w, axis)
            # the float tensor becomes DEQUANTIZE's output, with an empty buffer of its own; the float
            # data goes unless another tensor shares it
            if users[tensor.buffer] == 1:
                model.buffers[tensor.buffer].data = None
            model.buffers.append(schema.BufferT())
            tensor.buffer = len(model.buffers) - 1
            stored = schema.BufferT()
            stored.data = np.frombuffer(q.tobytes(), np.uint8)
            model.buffers.append(stored)
            quant = schema.QuantizationParametersT()
            quant.scale, quant.zeroPoint, quant.quantizedDimension = scale.tolist(), [0] * scale.size, axis
            packed = schema.TensorT()
            packed.shape, packed.type = list(tensor.shape), schema.TensorType.INT8
            packed.buffer = len(model.buffers) - 1
            packed.name, packed.quantization = (tensor.name or b"weight") + b"/int8", quant
            graph.tensors.append(packed)
            if dequantize is None:
                dequantize = _opcode(model, schema.BuiltinOperator.DEQUANTIZE)
            op_t = schema.OperatorT()
            op_t.opcodeIndex, op_t.inputs, op_t.outputs = dequantize, [len(graph.tensors) - 1], [index]
            front.append(op_t)
            done.add(index)
        graph.operators = front + list(graph.operators)  # constant inputs: first is topological order
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
