"""export.names: intermediate tensor names dropped, the graph and what reads names unchanged."""

import numpy as np
import pytest
from tensorflow.lite.tools import flatbuffer_utils

from export import flatbuffer, names
from export.interpreter import LceModel


@pytest.mark.slow
def test_strip_drops_only_the_names_nothing_reads(model_and_fb):
    import larq_compute_engine as lce
    import tensorflow as tf

    m, stripped, x = model_and_fb  # convert.to_lce strips already: convert again without it
    named = lce.convert_keras_model(m, inference_input_type=tf.float32, inference_output_type=tf.float32)
    assert names.strip(named) == stripped  # what the export writes
    assert len(stripped) < len(named) - 2000  # the converter's Keras paths, a few KB even on this tiny model
    assert names.strip(stripped) == stripped  # nothing left to drop

    def tensor_names(fb):
        g = flatbuffer_utils.convert_bytearray_to_object(bytearray(fb)).subgraphs[0]
        return [t.name for t in g.tensors], g

    before, g = tensor_names(named)
    after, _ = tensor_names(stripped)
    kept = [i for i, n in enumerate(after) if n]
    assert set(g.outputs) <= set(kept) and set(g.inputs) <= set(kept) and len(kept) < len(after) / 2
    assert all(after[i] == before[i] for i in kept)
    # what reads names still finds them: the outputs by name, the binary convolutions by their layer
    assert flatbuffer.output_order(stripped) == flatbuffer.output_order(named)
    assert flatbuffer.check_binarization(m, stripped) == [] == flatbuffer.check_binarization(m, named)
    # the same ops and weights: the same outputs, bit for bit
    assert flatbuffer.inspect(stripped)["op_counts"] == flatbuffer.inspect(named)["op_counts"]
    a, b = LceModel(stripped).predict(x), LceModel(named).predict(x)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
