"""export.convert: the LCE model, per-exit sub-graphs, staged segments and the portable model."""
import os

import numpy as np
import pytest
import tensorflow as tf

from export import convert, flatbuffer
from export.interpreter import LceModel
from helpers import read_bytes as _read

# LCE's binary kernels compute the same integer dot products as Keras' ±1 convs; the float
# front end and heads differ only by float rounding order.
ATOL_PROBS = 1e-4
ATOL = 1e-4  # same flatbuffer ops on the same inputs: only float rounding differs


@pytest.mark.slow
def test_conversion_binarizes_every_quantconv(model_and_fb):
    m, fb, _ = model_and_fb
    info = flatbuffer.inspect(fb)
    assert info["op_counts"].get("LceBconv2d", 0) == 6
    assert info["binary_macs"] > 0 and 0 < info["binary_mac_fraction"] < 1


@pytest.mark.slow
def test_exit_subgraph_holds_only_its_exit(model_and_fb, tmp_path):
    m, _, x = model_and_fb
    fb1 = convert.to_lce(convert.exit_model(m, 1))
    assert sorted(flatbuffer.output_order(fb1)) == ["exit1_embedding", "exit1_probs"]
    # exit 1 sits after the first section: its graph has fewer binary convs than the full model
    assert flatbuffer.inspect(fb1)["op_counts"]["LceBconv2d"] == 2
    np.testing.assert_allclose(LceModel(fb1).predict(x)["exit1_probs"],
                               m.predict(x, verbose=0)["exit1_probs"], atol=ATOL_PROBS)


@pytest.mark.slow
def test_all_design_files_exist(exported):
    _, out, files, _ = exported
    for rel in ("model.tflite", "model_portable.tflite", "labels.txt", "thresholds.json",
                *[f"exits/exit_{k}.tflite" for k in (1, 2, 3)], *[f"stages/stage_{k}.tflite" for k in (1, 2, 3)],
                *[f"stages_portable/stage_{k}.tflite" for k in (1, 2, 3)]):
        assert os.path.getsize(os.path.join(out, rel)) > 0, rel


@pytest.mark.slow
def test_chained_stages_reproduce_every_exit_of_the_full_model(exported):
    _, out, files, x = exported
    full = LceModel(_read(files.model)).predict(x)
    act = x
    for k, path in enumerate(files.stages, 1):
        st = LceModel(_read(path))
        res = st.predict(act)
        np.testing.assert_allclose(res[f"exit{k}_probs"], full[f"exit{k}_probs"], atol=ATOL)
        act = res.get("activation")
        assert (act is None) == (k == 3)
    # a stage after the first takes the activation, not audio, and holds only its own blocks
    assert LceModel(_read(files.stages[1])).interpreter.input_shapes[0][-1] == 16
    assert flatbuffer.inspect(_read(files.stages[1]))["op_counts"]["LceBconv2d"] == 2


@pytest.mark.slow
def test_portable_model_runs_on_stock_tflite_without_custom_ops(exported):
    _, out, files, x = exported
    fb = _read(files.portable)
    ops = flatbuffer.inspect(fb)["op_counts"]
    assert not any(op.startswith("Lce") for op in ops) and "SIGN" in ops
    it = tf.lite.Interpreter(model_content=fb, num_threads=1)
    runner = it.get_signature_runner()
    got = runner(audio=x[:1])
    ref = LceModel(_read(files.model)).predict(x[:1])
    for k in (1, 2, 3):
        np.testing.assert_allclose(got[f"exit{k}_probs"], ref[f"exit{k}_probs"], atol=1e-3)
