"""pipeline.corpus: the validation split carved for calibration when a task lists none."""

import numpy as np
import pytest

from pipeline.corpus import Corpus, Split


def _corpus(labels, validation=None):
    n = len(labels)
    train = Split(
        np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32),
        np.asarray(labels),
        tuple(f"c{i}.wav" for i in range(n)),
    )
    return Corpus("root", ("a", "b", "c"), train, Split.empty(4), validation)


def test_validation_is_a_seeded_share_of_each_label_taken_from_train():
    c = _corpus([0] * 20 + [1] * 10 + [2] * 2)
    v = c.with_validation(0.2, seed=3)
    assert sorted(np.bincount(v.validation.labels, minlength=3)) == [0, 2, 4]  # 20 % of 20 and 10, none of 2
    assert list(np.bincount(v.validation.labels, minlength=3)) == [4, 2, 0]
    assert not set(v.validation.ids) & set(v.train.ids)
    assert set(v.validation.ids) | set(v.train.ids) == set(c.train.ids)
    np.testing.assert_array_equal(v.validation.audio[:, 0], [int(i[1:-4]) for i in v.validation.ids])
    assert v.with_validation(0.2, seed=3) is v  # already has one
    again = c.with_validation(0.2, seed=3)
    assert (
        again.validation.ids == v.validation.ids and c.with_validation(0.2, seed=4).validation.ids != v.validation.ids
    )


def test_a_listed_validation_split_or_fraction_zero_leaves_the_corpus_alone():
    listed = _corpus([0] * 6, validation=Split.empty(4))
    assert listed.with_validation(0.5) is listed
    plain = _corpus([0] * 6)
    assert plain.with_validation(0.0) is plain
    assert _corpus([0, 1]).with_validation(0.5).validation is None  # no label has 3 clips


@pytest.mark.parametrize("fraction", [0.01, 0.15])
def test_every_label_with_three_clips_keeps_one_for_validation(fraction):
    v = _corpus([0, 0, 0, 1, 1, 1, 2, 2, 2]).with_validation(fraction)
    assert list(np.bincount(v.validation.labels)) == [1, 1, 1] and len(v.train) == 6
