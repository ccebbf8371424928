"""Fixtures of the export tests: a tiny student and its LCE flatbuffer, converted once."""

import numpy as np
import pytest

from helpers import CLIP, tone_clip


@pytest.fixture(scope="session")
def model_and_fb():
    """A tiny 3-exit student with non-trivial batch-norm statistics, its LCE flatbuffer and the clips:
    (model, flatbuffer bytes, clips). Used by test_convert.py and test_interpreter.py."""
    import tensorflow as tf

    from export import convert
    from models import students

    # the same weights whatever ran before: an untrained binary network's parity hangs on values near a
    # sign flip, so a draw of weights is part of the test
    tf.keras.utils.set_random_seed(0)
    m = students.build("quicknet", num_classes=4, embedding_dim=48, exits=3, clip_samples=CLIP, width=16)
    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate([200, 700, 1500, 3000] * 2)])
    m(x, training=True)  # non-trivial batch-norm statistics
    return m, convert.to_lce(m), x
