"""pipeline.baseline / distill.train_classifier: the in-run baseline learns, and predicts in inference mode."""

import numpy as np
import pytest

from helpers import CLIP, tone_clip
from models import baselines
from pipeline import distill


@pytest.mark.slow
def test_the_baseline_learns_a_tiny_task_and_keeps_it_in_inference_mode():
    freqs = [300, 900, 2500]
    x = np.stack([tone_clip(f, seconds=CLIP / 16000, seed=i) for i, f in enumerate(freqs * 16)])
    y = np.array([0, 1, 2] * 16)
    m = baselines.build("ds_cnn", num_classes=3, clip_samples=CLIP, spec_augment=False)
    distill.train_classifier(m, x, y, epochs=30, batch_size=16, augment=False, val_fraction=0.0, verbose=0)
    # inference mode uses the moving batch-norm statistics: they must have followed the data
    assert np.mean(np.argmax(m.predict(x, verbose=0), 1) == y) >= 0.7  # chance: 1/3, stale statistics: 1/3
