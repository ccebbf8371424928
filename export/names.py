"""Tensor names a converted file does not need: dropped, the graph unchanged.

```python
from export import names
small = names.strip(fb)        # the same ops, weights and outputs; about 8-11 KB less on the demo's files
```
A converter names every tensor after the Keras path that made it ("quicknet_3exits/section2_block1/…"),
which a runtime never reads: TFLite and LCE find tensors by index. What still needs a name keeps it:
each graph's inputs and outputs (the Android demo and `flatbuffer.output_order` read the outputs by
name), every tensor a signature lists, and the input of each binary convolution (its layer's name:
what `flatbuffer.check_binarization` matches layers by). TensorFlow's own
`flatbuffer_utils.strip_strings` drops the signatures too, which the runtimes here use, so this keeps them.

The flatbuffer is read and written with TensorFlow's schema object API, as `export.weights` does.
"""

from tensorflow.lite.tools import flatbuffer_utils

from export.flatbuffer import BINARY_OPS, op_name


def strip(fb: bytes) -> bytes:
    """`fb` with the names of its intermediate tensors removed (see the module docstring for those kept).

    Args:
        fb: a TFLite flatbuffer (LCE's or the stock converter's).

    Returns:
        The new flatbuffer (bytes): the same ops, weights, inputs, outputs and signatures.
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(fb))
    for index, graph in enumerate(model.subgraphs):
        keep = set(graph.inputs) | set(graph.outputs)
        for sig in model.signatureDefs or []:
            if sig.subgraphIndex == index:
                keep |= {t.tensorIndex for t in (sig.inputs or []) + (sig.outputs or [])}
        keep |= {op.inputs[0] for op in graph.operators if op_name(model, op) in BINARY_OPS and len(op.inputs)}
        for i, tensor in enumerate(graph.tensors):
            if i not in keep:
                tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
