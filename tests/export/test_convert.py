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
    assert info["op_counts"].get("LceBconv2d", 0) == 7  # quicknet: 1 + 3 + 3 blocks
    assert info["binary_macs"] > 0 and 0 < info["binary_mac_fraction"] < 1


@pytest.mark.slow
def test_exit_subgraph_holds_only_its_exit(model_and_fb, tmp_path):
    m, _, x = model_and_fb
    fb1 = convert.to_lce(convert.exit_model(m, 1))
    assert flatbuffer.output_order(fb1) == ["exit1_probs"]  # the classifier: no embedding head on the path
    # exit 1 sits after the first section: its graph has fewer binary convs than the full model
    assert flatbuffer.inspect(fb1)["op_counts"]["LceBconv2d"] == 1
    np.testing.assert_allclose(
        LceModel(fb1).predict(x)["exit1_probs"], m.predict(x, verbose=0)["exit1_probs"], atol=ATOL_PROBS
    )


@pytest.mark.slow
def test_all_design_files_exist(exported):
    _, out, files, _ = exported
    for rel in (
        "model.tflite",
        "model_portable.tflite",
        "labels.txt",
        "thresholds.json",
        *[f"exits/exit_{k}.tflite" for k in (1, 2, 3)],
        *[f"stages/stage_{k}.tflite" for k in (1, 2, 3)],
        *[f"stages_portable/stage_{k}.tflite" for k in (1, 2, 3)],
        "embedding.tflite",
        "stream/frontend.tflite",
        "stream/stage_1.tflite",
        "stream/stream.json",
    ):
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
    assert flatbuffer.inspect(_read(files.stages[1]))["op_counts"]["LceBconv2d"] == 3


@pytest.mark.slow
def test_int8_weights_round_only_the_embedding_heads(exported):
    m, _, files, x = exported
    ops = {p: flatbuffer.inspect(_read(p))["op_counts"] for p in [files.model, files.embedding, files.portable]}
    # LCE's binary weights are bit-packed; the classifiers (not rounded here) stay float; only the front
    # end's filters, built on the float16 grid (the default), are stored so: one DEQUANTIZE from float16
    stored = flatbuffer.inspect(_read(files.model))["constant_bytes"]
    assert ops[files.model]["DEQUANTIZE"] == 1 and "DEQUANTIZE/INT8" not in stored
    bands = m.get_layer("log_mel").params["num_mel_bins"]
    assert stored["DEQUANTIZE/FLOAT16"] == 2 * (2 * bands) * 400  # a complex Gabor filter a band, 400 taps, 2 bytes
    assert ops[files.embedding].get("DEQUANTIZE", 0) >= 3  # one per exit's head, at least
    assert ops[files.portable].get("DEQUANTIZE", 0) >= 7  # the ±1 weights of the 7 binary convolutions
    from export import benchmark

    assert benchmark.score_embedding(files.embedding, x[:2])["int8_weights"] is True  # what the report says
    assert benchmark.score_embedding(files.model, x[:2])["int8_weights"] is False


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


@pytest.mark.slow
def test_classifier_files_hold_no_teacher_sized_layer(exported):
    m, _, files, _ = exported
    dim = m.get_layer("exit1_embedding").units
    for path in [files.model, *files.exits, *files.stages]:
        fb = _read(path)
        outputs = flatbuffer.output_order(fb)
        assert not any("embedding" in n for n in outputs), path
        # one classifier per exit, plus the front end's mel matmul where the file starts from audio
        assert flatbuffer.inspect(fb)["op_counts"].get("FULLY_CONNECTED", 0) <= len(outputs) + 1, path
    # the embedding model is the one with the teacher-sized heads
    assert {n for n in flatbuffer.output_order(_read(files.embedding))} == {f"exit{k}_embedding" for k in (1, 2, 3)}
    assert dim == 16


def test_low_rank_is_the_truncated_svd_and_only_when_smaller():
    rng = np.random.default_rng(0)
    kernel = (rng.normal(size=(48, 4)) @ rng.normal(size=(4, 256))).astype(np.float32)  # rank 4
    bias = rng.normal(size=256).astype(np.float32)
    a, b, bias2 = convert.low_rank(kernel, bias, 4)
    assert a.shape == (48, 4) and b.shape == (4, 256) and bias2 is bias
    np.testing.assert_allclose(a @ b, kernel, atol=1e-3)  # exact at the kernel's own rank
    a2, b2, _ = convert.low_rank(kernel + rng.normal(size=kernel.shape).astype(np.float32), bias, 2)
    assert np.linalg.matrix_rank(a2 @ b2) == 2
    assert convert.low_rank(kernel, bias, 45) is None  # 45 × (48 + 256) > 48 × 256: no saving
    assert convert.low_rank(kernel, bias, 0) is None and convert.low_rank(kernel, bias, None) is None


@pytest.mark.slow
@pytest.mark.parametrize("rank", [None, 2])
def test_embedding_ensemble_is_the_running_mean_of_the_heads_in_lce(model_and_fb, rank):
    m, _, x = model_and_fb
    alone = convert.embedding_model(m, rank).predict(x, verbose=0)  # each head alone, Keras
    got = LceModel(convert.to_lce(convert.embedding_model(m, rank, ensemble=True))).predict(x)
    assert sorted(got) == ["exit1_embedding", "exit2_embedding", "exit3_embedding"]
    for k in (1, 2, 3):
        want = np.mean([alone[f"exit{j}_embedding"] for j in range(1, k + 1)], axis=0)
        np.testing.assert_allclose(got[f"exit{k}_embedding"], want, atol=1e-3)
    assert not np.allclose(got["exit3_embedding"], alone["exit3_embedding"], atol=1e-3)  # it did change
    # one exit asked for: its mean still takes every earlier head
    only3 = convert.embedding_model(m, rank, exits=[3], ensemble=True)
    assert only3.output_names == ["exit3_embedding"]
    np.testing.assert_allclose(only3.predict(x, verbose=0)["exit3_embedding"], got["exit3_embedding"], atol=1e-3)


@pytest.mark.slow
def test_embedding_model_with_low_rank_heads_follows_the_keras_heads(model_and_fb):
    m, _, x = model_and_fb
    want = m.predict(x, verbose=0)
    full = LceModel(convert.to_lce(convert.embedding_model(m))).predict(x)
    small = convert.embedding_model(m, rank=2)
    assert small.get_layer("exit3_embedding_low_rank").units == 2
    got = LceModel(convert.to_lce(small)).predict(x)
    for k in (1, 2, 3):
        name = f"exit{k}_embedding"
        np.testing.assert_allclose(full[name], want[name], atol=1e-3)
        kernel = m.get_layer(name).kernel.numpy()
        if 2 * sum(kernel.shape) < kernel.size:  # factorised: the rank-2 projection of the full head
            pooled = tf.keras.Model(m.inputs, m.get_layer(f"exit{k}_pool").output).predict(x, verbose=0)
            a, b, bias = convert.low_rank(kernel, m.get_layer(name).bias.numpy(), 2)
            np.testing.assert_allclose(got[name], pooled @ a @ b + bias, atol=1e-3)
