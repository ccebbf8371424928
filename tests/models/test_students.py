"""models.students: the family registry, exits and their boundaries, and binary layers that
LCE turns into binary ops (real Larq layers, real LCE)."""

import numpy as np
import pytest
import tensorflow as tf

from export import convert, flatbuffer
from helpers import CLIP, distill_losses, small, tone_batch, tone_clip
from export.interpreter import LceModel
from models import blocks, students
from pipeline import distill


@pytest.fixture(scope="module")
def batch():
    return tone_batch(24)


def depends_only_on(output, boundary, graph_input):
    """True when `output` is computed from `boundary` without reaching `graph_input` another way."""
    stack, seen = [output], set()
    while stack:
        tensor = stack.pop()
        if tensor is boundary:
            continue
        if tensor is graph_input:
            return False
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        for t in tf.nest.flatten(node.keras_inputs):
            if id(t) not in seen:
                seen.add(id(t))
                stack.append(t)
    return True


def test_student_has_exits_and_binary_layers():
    m = students.build("quicknet", num_classes=5, embedding_dim=32, exits=3, clip_samples=CLIP, width=16)
    assert students.exit_names(m) == ["exit1_probs", "exit2_probs", "exit3_probs"]
    out = m(np.zeros((2, CLIP), np.float32))
    assert out["exit3_probs"].shape == (2, 5) and out["exit1_embedding"].shape == (2, 32)
    quant = [layer for layer in m.layers if layer.__class__.__name__ == "QuantConv2D"]
    assert len(quant) == 7  # 1 + 3 + 3 blocks: a light first section
    assert all(q.input_quantizer.__class__.__name__ == "SteSign" for q in quant)


def test_unknown_family_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown student family 'nope'"):
        students.build("nope")


def test_registry_has_four_families():
    assert {"quicknet", "binarydensenet", "birealnet", "meliusnet"} <= set(students.FAMILIES)
    assert students.family_options("quicknet") == {"width": 48, "depth": 3, "first_depth": 1, "block": "react"}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["quicknet", "birealnet", "binarydensenet", "meliusnet"])
def test_family_trains_and_converts_to_binary_lce_ops(family, batch):
    x, _, t = batch
    m = small(family, exits=2)
    assert students.exit_names(m) == ["exit1_probs", "exit2_probs"]
    # exit k pools block boundary k; everything after it depends on that activation alone
    b1 = m.get_layer("exit1_pool").input
    assert depends_only_on(m.get_layer("exit2_pool").input, b1, m.input)
    assert not depends_only_on(b1, m.get_layer("exit2_pool").input, m.input)
    quant = [lyr for lyr in m.layers if lyr.__class__.__name__ == "QuantConv2D"]
    assert len(quant) >= 3  # quicknet: 1 block in its first section, then 2

    # the training objective on the batch (batch statistics, as in the steps themselves)
    before = distill_losses(m, x, t, training=True)
    distill.distill(m, x, t, epochs=20, batch_size=8, lr=5e-3, verbose=0, val_fraction=0.0, augment=False)
    after = distill_losses(m, x, t, training=True)
    assert all(a < 0.9 * b for a, b in zip(after, before)), (before, after)

    info = flatbuffer.inspect(convert.to_lce(m))
    assert info["op_counts"]["LceBconv2d"] == len(quant)  # every binary conv became an LCE binary op
    assert info["binary_macs"] > 0


@pytest.mark.parametrize("family,exits", [("quicknet", 5), ("birealnet", 4), ("binarydensenet", 4), ("meliusnet", 1)])
def test_families_build_with_k_exits_and_depth(family, exits):
    m = small(family, exits=exits, depth=(1,) * exits)  # one number per section: quicknet's light first one too
    assert students.exit_names(m) == [f"exit{k}_probs" for k in range(1, exits + 1)]
    out = m(np.zeros((2, CLIP), np.float32))
    assert out[f"exit{exits}_embedding"].shape == (2, 24) and out[f"exit{exits}_probs"].shape == (2, 3)
    deeper = small(family, exits=exits, depth=(2,) * exits)
    n_quant = [sum(lyr.__class__.__name__ == "QuantConv2D" for lyr in mm.layers) for mm in (m, deeper)]
    assert n_quant[1] == 2 * n_quant[0]


@pytest.mark.slow
def test_react_block_learns_its_thresholds_and_keeps_the_same_binary_convolutions(batch):
    x, _, t = batch
    plain, react = small("quicknet", block="quicknet"), small("quicknet")  # react: the default
    n_quant = sum(lyr.__class__.__name__ == "QuantConv2D" for lyr in react.layers)
    shifts = [lyr for lyr in react.layers if isinstance(lyr, blocks.LearnedShift)]
    assert len(shifts) == n_quant == sum(isinstance(lyr, blocks.RPReLU) for lyr in react.layers)
    before = distill_losses(react, x, t, training=True)
    distill.distill(react, x, t, epochs=20, batch_size=8, lr=5e-3, verbose=0, val_fraction=0.0, augment=False)
    assert all(a < 0.9 * b for a, b in zip(distill_losses(react, x, t, training=True), before))
    assert all(np.abs(s.shift.numpy()).max() > 1e-4 for s in shifts)  # every threshold moved off zero
    fb = convert.to_lce(react)
    a, b = flatbuffer.inspect(convert.to_lce(plain)), flatbuffer.inspect(fb)
    assert b["op_counts"]["LceBconv2d"] == a["op_counts"]["LceBconv2d"] == n_quant  # still every conv binary
    assert b["binary_macs"] == a["binary_macs"]
    got = LceModel(fb).predict(x[:4])["exit2_embedding"]  # LCE computes what Keras does
    np.testing.assert_allclose(got, react(x[:4])["exit2_embedding"], rtol=1e-3, atol=1e-3)
    again = tf.keras.Model.from_config(react.get_config())  # the layers serialize (get_config)
    again.set_weights(react.get_weights())
    np.testing.assert_allclose(again(x[:2])["exit1_embedding"], react(x[:2])["exit1_embedding"], rtol=1e-5)
    twin = students.float_twin(react)
    assert not students.is_binary(twin) and twin.count_params() == react.count_params()


def test_bad_family_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="takes no \\['blocks'\\]"):
        students.build("quicknet", blocks=3)
    with pytest.raises(ValueError, match="unknown quicknet block 'nope'"):
        students.build("quicknet", block="nope")
    with pytest.raises(ValueError, match="depth must be a whole number >= 1"):
        students.build("birealnet", depth=0)
    with pytest.raises(ValueError, match="at least one exit"):
        students.build("meliusnet", exits=0)


@pytest.mark.slow
def test_default_quicknet_is_small_and_mostly_binary():
    m = students.build("quicknet", num_classes=12, embedding_dim=1024, exits=3)
    fb = convert.to_lce(m)
    # the classifier that ships, front end included (its FFT or convolution MACs count): mostly binary
    info = flatbuffer.inspect(convert.to_lce(convert.classifier_model(m)))
    assert info["binary_mac_fraction"] >= 0.90
    # what ships: the classifier (no teacher-sized layer) and the embedding model at the default rank (64)
    assert len(convert.to_lce(convert.classifier_model(m))) <= 400_000
    assert len(convert.to_lce(convert.embedding_model(m, 64))) <= 2_000_000 < len(fb)
    assert info["op_counts"].get("BATCH_MATMUL", 0) + info["op_counts"].get("FULLY_CONNECTED", 0) >= 1  # log-mel


def test_frontend_framing_is_configurable():
    """A 20 ms hop halves the log-mel frames every later layer works on."""
    from models.frontend import num_frames

    default = students.build("quicknet", num_classes=3, embedding_dim=8, exits=1, width=8)
    coarse = students.build(
        "quicknet", num_classes=3, embedding_dim=8, exits=1, width=8, frontend={"frame_step": 320, "num_mel_bins": 40}
    )
    assert default.get_layer("log_mel").output.shape[1:] == (num_frames(16000), 40, 1)
    assert coarse.get_layer("log_mel").output.shape[1:] == (num_frames(16000, frame_step=320), 40, 1)
    assert coarse.get_layer("log_mel").get_config()["frame_step"] == 320


@pytest.mark.parametrize("family", ["quicknet", "binarydensenet"])
def test_depth_per_section_puts_the_blocks_where_asked(family):
    m = small(family, exits=3, depth=(1, 2, 3))
    per_section = [
        sum(lyr.__class__.__name__ == "QuantConv2D" and lyr.name.startswith(f"s{s}_") for lyr in m.layers)
        for s in (1, 2, 3)
    ]
    assert per_section[1] == 2 * per_section[0] and per_section[2] == 3 * per_section[0]
    with pytest.raises(ValueError, match="2 section depths given for 3 exits"):
        small(family, exits=3, depth=(1, 2))


def test_time_pooled_classifier_sees_every_frequency_row():
    """head_pool="time": each exit's classifier sees the mean over time of every frequency row."""
    glob = small("quicknet", exits=2, head_pool="global", embedding_pool="global")
    timed = small("quicknet", exits=2, head_pool="time", embedding_pool="global")
    rows = glob.get_layer("exit1_pool").input.shape[2]  # frequency rows of exit 1's feature map
    channels = glob.get_layer("exit1_pool").input.shape[3]
    assert glob.get_layer("exit1_probs").kernel.shape[0] == channels
    assert timed.get_layer("exit1_probs").kernel.shape[0] == rows * channels
    # the embedding head sees its own pool: it does not grow with the classifier's rows
    assert timed.get_layer("exit1_embedding").kernel.shape[0] == channels
    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate([300, 2500])])
    feats = tf.keras.Model(timed.inputs, timed.get_layer("exit1_pool").input)(x).numpy()
    pooled = tf.keras.Model(timed.inputs, timed.get_layer("exit1_time_pool").output)(x).numpy()
    np.testing.assert_allclose(pooled, feats.mean(axis=1).reshape(len(x), rows * channels), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="unknown head pool"):
        small("quicknet", head_pool="max")


@pytest.mark.slow
def test_aggregated_embedding_heads_read_every_earlier_exits_pooled_features():
    """aggregate=True: exit k's embedding head reads exits 1..k's pooled features, concatenated, in Keras and
    in the exported (low-rank, LCE-converted) embedding model; the classifiers and exit 1 are unchanged."""
    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate([300, 2500])])
    m = small("quicknet", exits=3, aggregate=True)
    plain = small("quicknet", exits=3)
    small_model = convert.embedding_model(m, rank=4)
    # predict() for every comparison: a binary net amplifies float rounding that differs between eager and graph
    pool_outs = [m.get_layer(f"exit{k}_pool").output for k in (1, 2, 3)]
    low_head = small_model.get_layer("exit3_embedding")
    *pools, full = tf.keras.Model(m.inputs, pool_outs + [m.get_layer("exit3_embedding").output]).predict(x, verbose=0)
    low = tf.keras.Model(m.inputs, low_head.output).predict(x, verbose=0)
    dims = [int(p.shape[-1]) for p in pools]
    for k in (1, 2, 3):
        assert m.get_layer(f"exit{k}_embedding").kernel.shape[0] == sum(dims[:k])
        assert plain.get_layer(f"exit{k}_embedding").kernel.shape[0] == dims[k - 1]
        assert m.get_layer(f"exit{k}_probs").kernel.shape == plain.get_layer(f"exit{k}_probs").kernel.shape
    with pytest.raises(ValueError):
        m.get_layer("exit1_aggregate")
    # the earlier exits' features enter later heads without gradient: exit 3's embedding loss does not train them
    assert isinstance(m.get_layer("exit3_reads_exit1"), students.StopGradient)
    pool1 = m.get_layer("exit1_pool").output
    probe = tf.keras.Model(m.inputs, [pool1, m.get_layer("exit3_embedding").output])
    first = [w for w in m.trainable_weights if w.name.startswith("s1_")]
    assert first
    with tf.GradientTape(persistent=True) as tape:
        _, e3 = probe(x, training=False)
        loss = tf.reduce_sum(tf.square(e3))
    plain_grad = tape.gradient(loss, first)
    assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in plain_grad)  # via section 3's own path
    detached = tf.keras.Model(m.inputs, m.get_layer("exit3_aggregate").input[0])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(detached(x, training=False))
    assert all(g is None for g in tape.gradient(y, first))
    assert students.StopGradient.from_config(m.get_layer("exit3_reads_exit1").get_config()).name == "exit3_reads_exit1"
    head = m.get_layer("exit3_embedding")
    joined = np.concatenate(pools, axis=-1)
    np.testing.assert_allclose(full, joined @ head.kernel.numpy() + head.bias.numpy(), rtol=1e-4, atol=1e-3)
    a, b, bias = convert.low_rank(head.kernel.numpy(), head.bias.numpy(), 4)
    np.testing.assert_allclose(low, joined @ a @ b + bias, rtol=1e-4, atol=1e-3)
    # LCE's binary kernels round differently near sign() == 0 on an untrained network: the converted file
    # must follow the Keras model closely, not bit for bit.
    exported = LceModel(convert.to_lce(small_model)).predict(x)["exit3_embedding"]
    assert exported.shape == low.shape
    assert np.corrcoef(exported.ravel(), low.ravel())[0, 1] > 0.95


def test_statistics_pooled_embedding_head_sees_mean_and_deviation():
    """embedding_pool="stats" / "band_stats": exit k's embedding head sees the mean and standard deviation of
    each channel, over time and frequency or over time per frequency row (`StatsPool`)."""
    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate([300, 2500])])
    for pool in ("stats", "band_stats"):
        m = small("quicknet", exits=2, embedding_pool=pool)
        layer = m.get_layer("exit1_pool")
        _, t, rows, ch = layer.input.shape
        feats = tf.keras.Model(m.inputs, layer.input)(x).numpy()
        got = tf.keras.Model(m.inputs, layer.output)(x).numpy()
        axes = (1,) if pool == "band_stats" else (1, 2)
        want = np.concatenate([feats.mean(axis=axes), np.sqrt(feats.var(axis=axes) + 1e-5)], axis=-1).reshape(2, -1)
        assert got.shape == (2, 2 * ch * (rows if pool == "band_stats" else 1))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        assert m.get_layer("exit1_embedding").kernel.shape[0] == got.shape[1]
        again = students.StatsPool.from_config(layer.get_config())
        assert again.per_band == (pool == "band_stats")
    with pytest.raises(ValueError, match="unknown embedding pool"):
        small("quicknet", embedding_pool="max")


def test_float_twin_is_the_same_network_with_full_precision_convolutions():
    m = small("quicknet", exits=3, spec_augment=True)
    twin = students.float_twin(m)
    assert students.is_binary(m) and not students.is_binary(twin)
    assert [lyr.name for lyr in twin.layers] == [lyr.name for lyr in m.layers]
    assert twin.count_params() == m.count_params() and twin.output_names == m.output_names
    for a, b in zip(m.layers, twin.layers):
        if a.__class__.__name__ == "QuantConv2D":
            assert (a.filters, a.kernel_size, a.padding, a.pad_values) == (
                b.filters,
                b.kernel_size,
                b.padding,
                b.pad_values,
            )
            assert b.input_quantizer is None and b.kernel_quantizer is None and b.kernel_constraint is None
    # full precision: with the same weights the twin's outputs differ from the binary network's
    twin.set_weights(m.get_weights())
    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate([300, 2500])])
    assert not np.allclose(twin(x)["exit3_embedding"], m(x)["exit3_embedding"])
    info = flatbuffer.inspect(convert.to_portable(convert.exit_model(twin, 3)))
    assert "SIGN" not in info["op_counts"] and info["binary_macs"] == 0


def test_classifiers_on_the_int8_grid_are_stored_as_int8_exactly_with_the_same_decisions():
    from models import int8

    tf.keras.utils.set_random_seed(0)
    m = students.build("quicknet", num_classes=12, embedding_dim=32, exits=3, clip_samples=CLIP, width=16)
    x = tone_batch(32)[0]
    m(x, training=True)  # non-trivial batch-norm statistics
    before = {layer.name: layer.get_weights() for layer in m.layers if layer.weights}
    float_file = convert.to_lce(convert.classifier_model(m), int8=())
    assert students.classifiers_on_int8_grid(m) == 3
    for layer in m.layers:
        kept = before.get(layer.name)
        if kept is None:
            continue
        now = layer.get_weights()
        if students.output_kind(layer.name) == students.PROBS:
            kernel, bias = now
            assert not np.array_equal(kernel, kept[0])  # rounded ...
            assert np.max(np.abs(kernel - kept[0])) <= np.max(np.abs(kept[0])) / 254 * 1.0001  # ... by half a step
            np.testing.assert_array_equal(int8.on_grid(kernel, axis=1), kernel)  # on the grid: a second call is a no-op
            np.testing.assert_array_equal(bias, kept[1])
        else:  # the front end, the blocks and the embedding heads are left alone
            for a, b in zip(now, kept):
                np.testing.assert_array_equal(a, b)
    # the classifier files' own policy (only what int8 holds exactly) now stores the three classifiers as int8
    fb = convert.to_lce(convert.classifier_model(m), int8=())
    # (the front end's filters, on the float16 grid by default, are one float16 DEQUANTIZE in both)
    assert "DEQUANTIZE/INT8" not in flatbuffer.inspect(float_file)["constant_bytes"]
    assert flatbuffer.inspect(fb)["op_counts"]["DEQUANTIZE"] == 3 + flatbuffer.inspect(float_file)["op_counts"].get(
        "DEQUANTIZE", 0
    )
    kernels = sum(m.get_layer(n).kernel.shape.num_elements() for n in students.exit_names(m))
    assert len(float_file) - len(fb) > 0.9 * 3 * kernels  # 3 of every 4 bytes of the kernels saved
    keras = m.predict(x, verbose=0)
    lite = LceModel(fb).predict(x)
    for k in (1, 2, 3):
        np.testing.assert_allclose(lite[f"exit{k}_probs"], keras[f"exit{k}_probs"], atol=1e-4)
