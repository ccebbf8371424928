"""models.frontend: the log-mel layer and SpecAugment."""
import numpy as np
import pytest
import tensorflow as tf

from export import convert, flatbuffer
from helpers import CLIP
from models import students
from models.frontend import LogMel, SpecAugment


def test_logmel_layer_round_trips_config():
    layer = LogMel(num_mel_bins=40, name="lm")
    clone = LogMel.from_config(layer.get_config())
    assert clone.get_config()["num_mel_bins"] == 40
    assert clone(tf.zeros([1, CLIP])).shape == (1, 1 + (CLIP - 400) // 160, 40, 1)


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


@pytest.mark.slow
def test_spec_augment_vanishes_from_the_converted_model():
    with_aug = students.build("quicknet", num_classes=3, embedding_dim=8, exits=1, clip_samples=CLIP, width=8,
                              spec_augment=True)
    plain = students.build("quicknet", num_classes=3, embedding_dim=8, exits=1, clip_samples=CLIP, width=8)
    assert with_aug.get_layer("spec_augment")
    a, b = (flatbuffer.inspect(convert.to_lce(mm))["op_counts"] for mm in (with_aug, plain))
    assert a == b
