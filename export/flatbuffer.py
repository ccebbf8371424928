"""Read a converted TFLite flatbuffer: op types, multiply-accumulates per op, output names.

```python
from export import flatbuffer
info = flatbuffer.inspect(open("model.tflite", "rb").read())
info["op_counts"]["LceBconv2d"], info["binary_mac_fraction"]
flatbuffer.output_order(fb)   # signature output names in the interpreter's output order
```
Uses TensorFlow's own generated schema reader (`schema_py_generated`), so nothing
about the format is re-implemented here.
"""

import collections
import logging

import numpy as np
from flatbuffers import flexbuffers
from tensorflow.lite.python import schema_py_generated as schema

log = logging.getLogger(__name__)

_BUILTIN = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
BINARY_OPS = {"LceBconv2d"}
_TYPES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def _model(fb):
    return schema.ModelT.InitFromPackedBuf(bytearray(fb), 0)


def op_name(model, op):
    """The name of an op: its custom code, else its builtin operator's name.

    Args:
        model: the parsed flatbuffer (`schema.ModelT`).
        op: one of its operators.

    Returns:
        The op's name, e.g. "CONV_2D" or "LceBconv2d".
    """
    code = model.operatorCodes[op.opcodeIndex]
    if code.customCode:
        return code.customCode.decode()
    return _BUILTIN.get(max(code.builtinCode, code.deprecatedBuiltinCode), str(code.builtinCode))


def _shape(graph, index):
    return list(graph.tensors[index].shape) if index >= 0 else []


def _macs(model, graph, op, name):
    out = _shape(graph, op.outputs[0])
    n_out = int(np.prod(out)) if out else 0
    if name == "CONV_2D":
        f = _shape(graph, op.inputs[1])  # [cout, kh, kw, cin]
        return n_out * f[1] * f[2] * f[3]
    if name == "DEPTHWISE_CONV_2D":
        f = _shape(graph, op.inputs[1])  # [1, kh, kw, cout]
        return n_out * f[1] * f[2]
    if name == "FULLY_CONNECTED":
        f = _shape(graph, op.inputs[1])  # [units, in]
        return n_out * f[1]
    if name == "BATCH_MATMUL":
        a = _shape(graph, op.inputs[0])
        return n_out * a[-1]
    if name == "RFFT2D":  # a real FFT of length N: (N/4) log2 N complex multiplies, 4 real MACs each
        n = _shape(graph, op.inputs[0])[-1]
        rows = int(np.prod(_shape(graph, op.inputs[0])[:-1]))
        return int(rows * n * np.log2(n)) if n > 1 else 0
    if name == "LceBconv2d":
        f = _shape(graph, op.inputs[1])  # [cout, kh, kw, packed cin]
        opts = flexbuffers.Loads(bytes(op.customOptions)) if op.customOptions is not None else {}
        cin = int(opts.get("channels_in", f[3] * 32))
        pixels = int(np.prod(out[:-1]))  # the output may be bitpacked (32 channels per int32)
        return pixels * f[0] * f[1] * f[2] * cin
    return 0


def inspect(fb):
    """Op counts, MACs per op type and the fraction of MACs in LCE binary ops.

    Args:
        fb: a TFLite flatbuffer (bytes); its first subgraph is read.

    Returns:
        {"op_counts", "macs" (per op type), "total_macs", "binary_macs", "binary_mac_fraction",
        "ops": [{"op", "macs", "elements", "int8", "constant" (every input is stored in the file)}
        per op, in order], "bytes", "constant_bytes" (per op type, the bytes of the stored tensors its ops
        read: weights, filters, tables; each tensor counted once, at its first reader; a DEQUANTIZE's
        by the type it stores: "DEQUANTIZE/INT8", "DEQUANTIZE/FLOAT16")}.
    """
    model = _model(fb)
    counts, macs, per_op = collections.Counter(), collections.Counter(), []
    constant, seen = collections.Counter(), set()
    for g in model.subgraphs[:1]:
        for op in g.operators:
            name = op_name(model, op)
            m = _macs(model, g, op, name)
            counts[name] += 1
            macs[name] += m
            for i in op.inputs:  # the weights an op reads, each buffer counted once (at its first reader)
                buf = g.tensors[i].buffer if i >= 0 else 0
                data = model.buffers[buf].data if buf else None
                if data is not None and buf not in seen:
                    seen.add(buf)
                    stored_as = _TYPES.get(g.tensors[i].type, "") if name == "DEQUANTIZE" else ""
                    constant[f"{name}/{stored_as}" if stored_as else name] += len(data)
            out = _shape(g, op.outputs[0]) if len(op.outputs) else []
            int8 = len(op.inputs) > 0 and op.inputs[0] >= 0 and g.tensors[op.inputs[0]].type == schema.TensorType.INT8
            stored = [i < 0 or model.buffers[g.tensors[i].buffer].data is not None for i in op.inputs]
            per_op.append(
                {
                    "op": name,
                    "macs": m,
                    "elements": int(np.prod(out)) if out else 0,
                    "int8": bool(int8),
                    "constant": bool(stored) and all(stored),
                }
            )
    total = sum(macs.values())
    binary = sum(v for k, v in macs.items() if k in BINARY_OPS)
    return {
        "op_counts": dict(counts),
        "macs": dict(macs),
        "total_macs": int(total),
        "binary_macs": int(binary),
        "binary_mac_fraction": binary / total if total else 0.0,
        "ops": per_op,
        "bytes": len(fb),
        "constant_bytes": dict(constant),
    }


def output_order(fb):
    """Signature output names, listed in the order the interpreter returns outputs.

    Args:
        fb: a TFLite flatbuffer (bytes).

    Returns:
        The names; tensor names where there is no signature (or it does not name an output).
    """
    model = _model(fb)
    g = model.subgraphs[0]
    if not model.signatureDefs:
        return [g.tensors[i].name.decode() for i in g.outputs]
    by_tensor = {o.tensorIndex: o.name.decode() for o in model.signatureDefs[0].outputs}
    return [by_tensor.get(i, g.tensors[i].name.decode()) for i in g.outputs]


def check_binarization(model, fb, warn=None):
    """Every binary-looking QuantConv2D of `model` must appear as an LceBconv2d in `fb`.

    Returns the names of the layers that did not become LceBconv2d, after printing a loud
    warning naming each one (a float conv where a binary one was meant costs 32x the memory
    and most of the speed).

    Args:
        model: the Keras model `fb` was converted from.
        fb: its LCE flatbuffer (bytes).
        warn: a function called with each warning; None: the module's logger.

    Returns:
        The names of the QuantConv2D layers that did not become LceBconv2d.
    """
    warn = warn or log.warning
    fbm = _model(fb)
    g = fbm.subgraphs[0]
    # A binary conv's input is its layer's own sign quantizer: "<model>/<layer>/ste_sign…".
    names = [
        g.tensors[op.inputs[0]].name.decode().split(";")[0] for op in g.operators if op_name(fbm, op) in BINARY_OPS
    ]
    missing = []
    for layer in model.layers:
        if layer.__class__.__name__ != "QuantConv2D":
            continue
        if not any(f"/{layer.name}/" in n for n in names):
            missing.append(layer.name)
            warn(
                f"WARNING: QuantConv2D layer '{layer.name}' did NOT become LceBconv2d: it runs as a float "
                "convolution. LCE binarizes only ste_sign input and kernel quantizers with padding 'valid', "
                "or 'same' with pad_values=1.0."
            )
    return missing
