"""Student families, SpecAugment and the training infrastructure (real Larq layers, real LCE)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from export import convert, flatbuffer
from models import students
from models.frontend import SpecAugment
from pipeline import config, distill, run
from helpers import tone_clip

CLIP = 4000
TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)


@pytest.fixture(scope="module")
def batch():
    freqs = [300, 900, 2500, 300, 900, 2500, 300, 900]
    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate(freqs)])
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    t = np.random.default_rng(0).standard_normal((3, 24)).astype(np.float32)[y]
    return x, y, t


def small(family, exits=2, **kw):
    return students.build(family, num_classes=3, embedding_dim=24, exits=exits, clip_samples=CLIP,
                          **{"width": 8, "depth": 2, **kw})


def distill_losses(m, x, t, training=False):
    out = m(x, training=training)
    return [float(tf.reduce_mean(tf.square(out[f"exit{k}_embedding"] - t / distill.target_scale(t))))
            for k in range(1, len(students.exit_names(m)) + 1)]


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


def test_registry_has_four_families():
    assert {"quicknet", "binarydensenet", "birealnet", "meliusnet"} <= set(students.FAMILIES)
    assert students.family_options("quicknet") == {"width": 48, "depth": 2}


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
    assert len(quant) >= 4

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
    m = small(family, exits=exits, depth=1)
    assert students.exit_names(m) == [f"exit{k}_probs" for k in range(1, exits + 1)]
    out = m(np.zeros((2, CLIP), np.float32))
    assert out[f"exit{exits}_embedding"].shape == (2, 24) and out[f"exit{exits}_probs"].shape == (2, 3)
    deeper = small(family, exits=exits, depth=2)
    n_quant = [sum(lyr.__class__.__name__ == "QuantConv2D" for lyr in mm.layers) for mm in (m, deeper)]
    assert n_quant[1] == 2 * n_quant[0]


def test_bad_family_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="takes no \\['blocks'\\]"):
        students.build("quicknet", blocks=3)
    with pytest.raises(ValueError, match="depth must be a whole number >= 1"):
        students.build("birealnet", depth=0)
    with pytest.raises(ValueError, match="at least one exit"):
        students.build("meliusnet", exits=0)


def test_default_quicknet_is_small_and_mostly_binary():
    m = students.build("quicknet", num_classes=12, embedding_dim=1024, exits=3)
    info = flatbuffer.inspect(fb := convert.to_lce(m))
    assert len(fb) <= 2_000_000
    assert info["binary_mac_fraction"] >= 0.90
    assert info["op_counts"].get("BATCH_MATMUL", 0) + info["op_counts"].get("FULLY_CONNECTED", 0) >= 1  # log-mel


def test_spec_augment_masks_only_when_training_and_is_seeded():
    x = tf.random.stateless_normal([4, 60, 40, 1], seed=[1, 2]) + 3.0
    layer = SpecAugment(time_masks=2, max_time=0.2, freq_masks=2, max_freq=0.2, seed=3)
    assert layer(x) is x and layer(x, training=False) is x
    y = layer(x, training=True).numpy()
    masked = y == 0.0
    assert 0 < masked.mean() < 0.6
    # masks are whole frame rows and bin columns
    rows, cols = masked[..., 0].all(axis=2), masked[..., 0].all(axis=1)
    assert np.array_equal(masked[..., 0], rows[:, :, None] | cols[:, None, :])
    np.testing.assert_array_equal(y[~masked], x.numpy()[~masked])
    again = SpecAugment.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    np.testing.assert_array_equal(again(x, training=True).numpy(), y)  # same seed, same masks
    with pytest.raises(ValueError, match="max_time"):
        SpecAugment(max_time=2.0)


def test_spec_augment_vanishes_from_the_converted_model():
    with_aug = students.build("quicknet", num_classes=3, embedding_dim=8, exits=1, clip_samples=CLIP, width=8,
                              spec_augment=True)
    plain = students.build("quicknet", num_classes=3, embedding_dim=8, exits=1, clip_samples=CLIP, width=8)
    assert with_aug.get_layer("spec_augment")
    a, b = (flatbuffer.inspect(convert.to_lce(mm))["op_counts"] for mm in (with_aug, plain))
    assert a == b


def test_exit_weights_parse_and_weight_each_exit(batch):
    assert config.parse_exit_weights("0.5,0.75,1", exits=3) == [0.5, 0.75, 1.0]
    for bad, msg in (("0.5,x", "numbers separated by commas"), ("1,2", "2 exit weights given for 3 exits"),
                     ("0,0,0", "not all 0"), ("-1,1,1", ">= 0")):
        with pytest.raises(ValueError, match=msg):
            config.parse_exit_weights(bad, exits=3)
    x, _, t = batch
    m = small("quicknet", exits=2)
    head1 = m.get_layer("exit1_embedding").kernel.numpy().copy()
    head2 = m.get_layer("exit2_embedding").kernel.numpy().copy()
    distill.distill(m, x, t, epochs=2, batch_size=8, verbose=0, exit_weights="0,1", val_fraction=0.0)
    np.testing.assert_array_equal(m.get_layer("exit1_embedding").kernel.numpy(), head1)  # weight 0: no gradient
    assert not np.array_equal(m.get_layer("exit2_embedding").kernel.numpy(), head2)


def test_bop_flips_binary_weights_and_lowers_loss(batch):
    x, _, t = batch
    m = small("quicknet", exits=1)
    kernel = m.get_layer("s1_b1_bconv").kernel
    signs = np.sign(kernel.numpy())
    before = distill_losses(m, x, t, training=True)
    distill.distill(m, x, t, epochs=8, batch_size=8, verbose=0, optimizer="bop", val_fraction=0.0, augment=False)
    assert distill_losses(m, x, t, training=True)[0] < 0.9 * before[0]
    assert np.mean(np.sign(kernel.numpy()) != signs) > 0  # Bop trains binary weights by flipping signs
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        distill.make_optimizer("sgd")


def test_validation_holdout_and_early_stopping(batch):
    x, _, t = batch
    train, val = distill.holdout(40, 0.25, seed=1)
    assert len(val) == 10 and not set(train) & set(val) and len(train) + len(val) == 40
    assert np.array_equal(distill.holdout(40, 0.25, seed=1)[1], val)
    seen, best = [], []
    m = small("quicknet", exits=1)
    head = m.get_layer("exit1_embedding").kernel

    def rising(epoch, logs):  # a validation loss that only gets worse after the first epoch
        seen.append(dict(logs))
        logs["val_loss"] = 1.0 + epoch
        if epoch == 0:
            best.append(head.numpy().copy())

    distill.distill(m, x, t, epochs=30, batch_size=8, verbose=0, val_fraction=0.25, patience=2,
                    augment=False, callbacks=[tf.keras.callbacks.LambdaCallback(on_epoch_end=rising)])
    assert "val_loss" in seen[0] and len(seen) == 3  # stopped `patience` epochs after the best one
    np.testing.assert_array_equal(head.numpy(), best[0])  # and went back to the best weights


def test_fine_tune_lowers_label_loss_and_trains_backbone(batch):
    x, y, t = batch
    m = small("birealnet", exits=2)
    distill.distill(m, x, t, epochs=3, batch_size=8, verbose=0, val_fraction=0.0)

    def label_loss():
        p = m.predict(x, verbose=0)["exit2_probs"]
        return float(np.mean(-np.log(p[np.arange(len(y)), y] + 1e-9)))

    before, bconv = label_loss(), m.get_layer("s1_b1_bconv").kernel.numpy().copy()
    distill.fine_tune(m, x, t, y, epochs=25, batch_size=8, lr=3e-3, verbose=0, val_fraction=0.0, augment=False,
                      label_weight=2.0)
    assert label_loss() < 0.7 * before
    assert not np.array_equal(m.get_layer("s1_b1_bconv").kernel.numpy(), bconv)


def test_mirrored_strategy_builds_and_trains_under_its_scope(batch):
    x, _, t = batch
    strategy = distill.get_strategy("mirrored")
    with strategy.scope():
        m = small("meliusnet", exits=1, depth=1, spec_augment=True)
    assert m.distribute_strategy is strategy
    distill.distill(m, x, t, epochs=1, batch_size=4, verbose=0, val_fraction=0.25)
    assert isinstance(distill.get_strategy("default"), tf.distribute.Strategy)
    with pytest.raises(ValueError, match="unknown distribution strategy"):
        distill.get_strategy("tpu")


KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    sys.path[:0] = [{root!r}, {tests!r}]
    import pipeline, tensorflow as tf
    from models import students
    from pipeline import distill
    x, t = np.load({data!r} + ".x.npy"), np.load({data!r} + ".t.npy")
    m = students.build("quicknet", num_classes=3, embedding_dim=24, exits=2, clip_samples={clip}, width=8)

    def die(epoch, logs):
        if epoch == 2:  # after the backup of epoch 3 (0-based 2) was written
            np.save({data!r} + ".w.npy", m.get_layer("s1_b1_bconv").kernel.numpy())
            os.kill(os.getpid(), signal.SIGKILL)

    distill.distill(m, x, t, epochs=6, batch_size=8, verbose=0, out_dir={out!r}, val_fraction=0.25,
                    callbacks=[tf.keras.callbacks.LambdaCallback(on_epoch_end=die)])
""")


def test_killed_run_resumes_from_its_last_epoch(batch, tmp_path):
    x, _, t = batch
    data, out = str(tmp_path / "d"), str(tmp_path / "out")
    np.save(data + ".x.npy", x)
    np.save(data + ".t.npy", t)
    script = KILLED_RUN.format(root=ROOT, tests=TESTS, data=data, clip=CLIP, out=out)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]  # really killed, mid-training
    assert os.listdir(os.path.join(out, "checkpoints", "distill_backup"))

    m = students.build("quicknet", num_classes=3, embedding_dim=24, exits=2, clip_samples=CLIP, width=8)
    epochs, start = [], []
    first = tf.keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: start.append(m.get_layer("s1_b1_bconv").kernel.numpy()) if not start else None,
        on_epoch_end=lambda e, logs: epochs.append(e))
    distill.distill(m, x, t, epochs=6, batch_size=8, verbose=0, out_dir=out, val_fraction=0.25, callbacks=[first])
    assert epochs == [3, 4, 5]  # continued where the killed run stopped
    np.testing.assert_array_equal(start[0], np.load(data + ".w.npy"))  # from its weights
    assert not os.listdir(os.path.join(out, "checkpoints", "distill_backup"))  # finished: backup removed


def test_bad_flags_are_clear_errors(capsys, tmp_path):
    for argv, msg in ((["--student", "resnet"], "unknown student family 'resnet'"),
                      (["--exits", "0"], "must be >= 1"),
                      (["--exit-weights", "1,a"], "numbers separated by commas"),
                      (["--optimizer", "sgd"], "invalid choice: 'sgd'"),
                      (["--strategy", "tpu"], "invalid choice: 'tpu'"),
                      (["--val-fraction", "1.5"], "must be in [0, 1)")):
        with pytest.raises(SystemExit) as e:
            run.main(argv + ["--out", str(tmp_path / "never")])
        assert msg in str(e.value.code), argv
    assert not (tmp_path / "never").exists()  # refused before anything was written
    args = config.build({"exit_weights": "0.5,1", "exits": 2, "spec_augment": False, "optimizer": "bop"})
    assert args.train.exit_weights == [0.5, 1.0] and args.student.spec_augment is False
    assert args.train.optimizer == "bop"
    with pytest.raises(SystemExit, match="2 exit weights given for 3 exits"):
        run.main(["--exit-weights", "0.5,1", "--exits", "3", "--out", str(tmp_path / "never")])
