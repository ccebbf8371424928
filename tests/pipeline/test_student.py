"""pipeline.student: the exits' temperatures, fitted on validation clips and folded into the classifiers."""
import numpy as np
import pytest

from helpers import small, tone_batch
from pipeline import calibrate, distill, student
from pipeline.corpus import Split


@pytest.mark.slow
def test_temperatures_are_folded_into_the_classifiers():
    x, y, _ = tone_batch(24)
    m = small("quicknet", exits=2)
    distill.train_heads(m, x, y, epochs=40, batch_size=8, verbose=0)  # overconfident on its own clips
    before = m.predict(x, verbose=0)
    temps = student.calibrate_exits(m, Split(x, y, tuple(map(str, range(len(y))))))
    after = m.predict(x, verbose=0)
    assert len(temps) == 2
    for k, t in enumerate(temps, 1):
        assert t == pytest.approx(calibrate.fit_temperature(before[f"exit{k}_probs"], y), rel=1e-3)
        z = np.log(before[f"exit{k}_probs"]) / t
        want = np.exp(z - z.max(1, keepdims=True))
        np.testing.assert_allclose(after[f"exit{k}_probs"], want / want.sum(1, keepdims=True), atol=1e-4)
        nll = [float(np.mean(-np.log(p[f"exit{k}_probs"][np.arange(len(y)), y] + 1e-12))) for p in (before, after)]
        assert nll[1] <= nll[0] + 1e-6  # on the clips it was fitted on, the calibrated exit is no worse
    np.testing.assert_allclose(after["exit2_embedding"], before["exit2_embedding"])  # the embedding is untouched
