"""pipeline.distill: distillation at every exit, exit weights, Bop, validation and early stopping,
classifier heads, fine-tuning, tf.distribute strategies and resuming a killed run (real Larq training)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from helpers import CLIP, ROOT, TESTS, distill_losses, small, tone_batch
from models import students
from pipeline import config, distill


@pytest.fixture(scope="module")
def batch():
    """Clips, labels and 24-dim teacher embeddings, for `small` students."""
    return tone_batch(24)


@pytest.fixture(scope="module")
def batch32():
    """Clips, labels and 32-dim teacher embeddings."""
    return tone_batch(32)


@pytest.mark.slow
def test_distillation_steps_lower_the_loss_at_every_exit(batch32):
    x, _, t = batch32
    m = students.build("quicknet", num_classes=3, embedding_dim=32, exits=3, clip_samples=CLIP, width=16)
    names = [f"exit{k}_embedding" for k in (1, 2, 3)]

    def losses():
        out = m(x, training=False)
        return [float(tf.reduce_mean(tf.square(out[n] - t / distill.target_scale(t)))) for n in names]

    m(x, training=True)  # settle batch-norm statistics once
    before = losses()
    distill.distill(m, x, t, epochs=15, batch_size=8, verbose=0)
    after = losses()
    assert all(a < 0.8 * b for a, b in zip(after, before)), (before, after)


@pytest.mark.slow
def test_heads_learn_labels_with_frozen_backbone(batch32):
    x, y, t = batch32
    m = students.build("quicknet", num_classes=3, embedding_dim=32, exits=2, clip_samples=CLIP, width=16)
    distill.distill(m, x, t, epochs=5, batch_size=8, verbose=0)
    frozen = [w.numpy().copy() for w in m.get_layer("s1_b1_bconv").weights]

    def head_loss():
        p = m.predict(x, verbose=0)["exit2_probs"]
        return float(np.mean(-np.log(p[np.arange(len(y)), y] + 1e-9)))

    before = head_loss()
    distill.train_heads(m, x, y, epochs=40, batch_size=8, lr=1e-2, verbose=0)
    after = [w.numpy() for w in m.get_layer("s1_b1_bconv").weights]
    assert all(np.array_equal(a, b) for a, b in zip(frozen, after))
    assert head_loss() < 0.7 * before


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown distillation loss"):
        distill.get_loss("hinge")


def test_exit_weights_parse_and_weight_each_exit(batch):
    assert config.parse_exit_weights("0.5,0.75,1", exits=3) == [0.5, 0.75, 1.0]
    for bad, msg in (
        ("0.5,x", "numbers separated by commas"),
        ("1,2", "2 exit weights given for 3 exits"),
        ("0,0,0", "not all 0"),
        ("-1,1,1", ">= 0"),
    ):
        with pytest.raises(ValueError, match=msg):
            config.parse_exit_weights(bad, exits=3)
    x, _, t = batch
    m = small("quicknet", exits=2)
    head1 = m.get_layer("exit1_embedding").kernel.numpy().copy()
    head2 = m.get_layer("exit2_embedding").kernel.numpy().copy()
    distill.distill(m, x, t, epochs=2, batch_size=8, verbose=0, exit_weights="0,1", val_fraction=0.0)
    np.testing.assert_array_equal(m.get_layer("exit1_embedding").kernel.numpy(), head1)  # weight 0: no gradient
    assert not np.array_equal(m.get_layer("exit2_embedding").kernel.numpy(), head2)


@pytest.mark.slow
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

    distill.distill(
        m,
        x,
        t,
        epochs=30,
        batch_size=8,
        verbose=0,
        val_fraction=0.25,
        patience=2,
        augment=False,
        callbacks=[tf.keras.callbacks.LambdaCallback(on_epoch_end=rising)],
    )
    assert "val_loss" in seen[0] and len(seen) == 3  # stopped `patience` epochs after the best one
    np.testing.assert_array_equal(head.numpy(), best[0])  # and went back to the best weights


@pytest.mark.slow
def test_fine_tune_lowers_label_loss_and_trains_backbone(batch):
    x, y, t = batch
    m = small("birealnet", exits=2)
    distill.distill(m, x, t, epochs=3, batch_size=8, verbose=0, val_fraction=0.0)

    def label_loss():
        p = m.predict(x, verbose=0)["exit2_probs"]
        return float(np.mean(-np.log(p[np.arange(len(y)), y] + 1e-9)))

    before, bconv = label_loss(), m.get_layer("s1_b1_bconv").kernel.numpy().copy()
    distill.fine_tune(
        m, x, t, y, epochs=25, batch_size=8, lr=3e-3, verbose=0, val_fraction=0.0, augment=False, label_weight=2.0
    )
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


@pytest.mark.slow
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
        on_epoch_end=lambda e, logs: epochs.append(e),
    )
    distill.distill(m, x, t, epochs=6, batch_size=8, verbose=0, out_dir=out, val_fraction=0.25, callbacks=[first])
    assert epochs == [3, 4, 5]  # continued where the killed run stopped
    np.testing.assert_array_equal(start[0], np.load(data + ".w.npy"))  # from its weights
    assert not os.listdir(os.path.join(out, "checkpoints", "distill_backup"))  # finished: backup removed


def test_exit_targets_are_per_exit_when_given_per_exit(batch):
    _, _, t = batch
    names = ["exit1_embedding", "exit2_embedding"]
    same, scale = distill.exit_targets(t, names)
    assert scale == pytest.approx(distill.target_scale(t)) and np.allclose(same[names[0]], same[names[1]])
    np.testing.assert_allclose(np.sqrt(np.mean(same[names[0]] ** 2)), 1.0, rtol=1e-5)
    per, scale2 = distill.exit_targets({names[0]: t, names[1]: 3 * t}, names)
    np.testing.assert_allclose(per[names[1]], 3 * per[names[0]], rtol=1e-6)
    assert scale2 == pytest.approx(distill.target_scale(np.concatenate([t, 3 * t])))
