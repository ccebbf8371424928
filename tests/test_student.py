import numpy as np
import pytest
import tensorflow as tf

from models import students
from models.frontend import LogMel
from pipeline import distill
from helpers import tone_clip

CLIP = 4000


@pytest.fixture(scope="module")
def batch():
    freqs = [300, 900, 2500, 300, 900, 2500, 300, 900]
    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate(freqs)])
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    t = np.random.default_rng(0).standard_normal((3, 32)).astype(np.float32)[y]
    return x, y, t


def test_student_has_exits_and_binary_layers():
    m = students.build("quicknet", num_classes=5, embedding_dim=32, exits=3, clip_samples=CLIP, width=16)
    assert students.exit_names(m) == ["exit1_probs", "exit2_probs", "exit3_probs"]
    out = m(np.zeros((2, CLIP), np.float32))
    assert out["exit3_probs"].shape == (2, 5) and out["exit1_embedding"].shape == (2, 32)
    quant = [layer for layer in m.layers if layer.__class__.__name__ == "QuantConv2D"]
    assert len(quant) == 6
    assert all(q.input_quantizer.__class__.__name__ == "SteSign" for q in quant)


def test_unknown_family_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown student family 'nope'"):
        students.build("nope")


def test_logmel_layer_round_trips_config():
    layer = LogMel(num_mel_bins=40, name="lm")
    clone = LogMel.from_config(layer.get_config())
    assert clone.get_config()["num_mel_bins"] == 40
    assert clone(tf.zeros([1, CLIP])).shape == (1, 1 + (CLIP - 400) // 160, 40, 1)


def test_distillation_steps_lower_the_loss_at_every_exit(batch):
    x, _, t = batch
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


def test_heads_learn_labels_with_frozen_backbone(batch):
    x, y, t = batch
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
