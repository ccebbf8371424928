"""Stage 1, audio → clips: the labelled task and the unlabelled audio as typed splits.

```python
from pipeline import config, corpus
cfg = config.from_argv([])
c = corpus.load_corpus(cfg.data, seed=cfg.seed)     # the bundled demo
c.train.audio.shape, c.train.labels, c.train.ids[:2], c.labels
c.section()                                         # report.json "data"
```
A file that cannot be used never stops the run: it is skipped and listed with its reason
(`Corpus.skipped`, report.json `data.skipped`); only a task left with no training clip raises
`DataError`. `_background_noise_` recordings are decoded for augmentation (`Corpus.noise`).
"""

import dataclasses
import logging
import os
from collections import Counter
from typing import Dict, Optional, Tuple

import numpy as np

from pipeline import datasets
from pipeline.errors import DataError

log = logging.getLogger(__name__)
DEMO_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_data")
UNLABELLED = -1  # the label of a clip with none


@dataclasses.dataclass(frozen=True)
class Split:
    """Clips of one split: `audio` [n, samples] float32, `labels` [n] int64 (-1: none), `ids` [n]
    (the file path, or "path#piece" for a piece of a longer unlabelled file)."""

    audio: np.ndarray
    labels: np.ndarray
    ids: Tuple[str, ...]

    def __len__(self):
        return len(self.ids)

    @property
    def clip_samples(self) -> int:
        return int(self.audio.shape[1])

    def batches(self, size=256):
        """The clips in order, `size` at a time (as `shards.StreamedSplit` reads them from disk)."""
        for i in range(0, len(self), size):
            yield self.audio[i : i + size]

    def head(self, n):
        """The first `n` clips."""
        return self.audio[:n]

    def take(self, keep):
        """The clips at the indices `keep`, as a new Split."""
        keep = np.asarray(keep, np.int64)
        return Split(self.audio[keep], self.labels[keep], tuple(self.ids[i] for i in keep))

    @staticmethod
    def empty(samples):
        return Split(np.zeros((0, samples), np.float32), np.zeros(0, np.int64), ())


@dataclasses.dataclass(frozen=True)
class Corpus:
    """What stage 1 made: the labels, the splits, noise recordings and every file skipped."""

    root: str
    labels: Tuple[str, ...]
    train: Split
    test: Split
    validation: Optional[Split] = None
    unlabeled: Optional[Split] = None
    noise: Tuple[np.ndarray, ...] = ()
    skipped: Tuple[Dict[str, str], ...] = ()

    def splits(self):
        """{name: Split} of the splits present (train, validation, test, unlabeled)."""
        return {n: s for n in ("train", "validation", "test", "unlabeled") if (s := getattr(self, n)) is not None}

    def distillation(self):
        """The clips the student distils on: train, then the unlabelled clips."""
        parts = [self.train] + ([self.unlabeled] if self.unlabeled is not None else [])
        return Split(
            np.concatenate([p.audio for p in parts]),
            np.concatenate([p.labels for p in parts]),
            tuple(i for p in parts for i in p.ids),
        )

    def with_validation(self, fraction, seed=0):
        """A labelled validation split for calibration when the task lists none: a seeded `fraction` of
        each label's training clips moves from train to validation (at least one clip of a label with
        three or more; none from a smaller label). A corpus with a validation split is returned as is."""
        if self.validation is not None or not fraction:
            return self
        held = validation_indices(self.train.labels, fraction, seed)
        if not len(held):
            return self
        keep = np.setdiff1d(np.arange(len(self.train)), held)
        return dataclasses.replace(self, train=self.train.take(keep), validation=self.train.take(held))

    def without(self, dropped):
        """A new Corpus without the clips `dropped` ({split name: [(index, reason)]}), listed as skipped."""
        if not any(dropped.values()):
            return self
        changes, skipped = {}, list(self.skipped)
        for name, bad in dropped.items():
            if not bad:
                continue
            split = getattr(self, name)
            gone = {i for i, _ in bad}
            skipped += [{"path": split.ids[i], "reason": r} for i, r in bad]
            changes[name] = split.take([i for i in range(len(split)) if i not in gone])
        return dataclasses.replace(self, skipped=tuple(skipped), **changes)

    def section(self):
        """report.json "data"."""
        return {
            "clips": sum(len(s) for n, s in self.splits().items() if n != "validation"),
            "train_clips": len(self.train),
            "test_clips": len(self.test),
            "validation_clips": len(self.validation) if self.validation is not None else 0,
            "unlabeled_clips": len(self.unlabeled) if self.unlabeled is not None else 0,
            "skipped": list(self.skipped),
            "labels": list(self.labels),
            "root": self.root,
        }


def validation_indices(labels, fraction, seed=0) -> np.ndarray:
    """Sorted indices of the training clips (`labels`) that `Corpus.with_validation` moves to validation."""
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        n = max(1, int(round(fraction * len(idx)))) if len(idx) >= 3 else 0
        held += list(rng.permutation(idx)[:n])
    return np.sort(np.asarray(held, np.int64))


def _progress(msg):
    log.info(msg)


def load_corpus(data, seed=0) -> Corpus:
    """Stage 1, audio → clips: decode the task folder `data.data` (default: the bundled demo) and `data.unlabeled`.

    Args:
        data: the run configuration's data section (`config.DataConfig`).
        seed: the seed of the train/test split where the folder does not give one.

    Returns:
        The `Corpus`: train, validation and test splits of fixed-length clips with labels, the
        unlabelled clips, the label names and the skipped files with their reasons.

    Raises:
        DataError: when the folder cannot be read or holds no usable clips.
    """
    root = data.data or DEMO_DATA
    samples = data.clip_samples
    try:
        ds = datasets.scan(root, seed=seed)
    except (FileNotFoundError, ValueError) as e:
        raise DataError(str(e)) from None
    for w in ds.warnings:
        log.warning(f"warning: {w}")
    skipped = list(ds.rejected)
    splits = {}
    for name in ("train", "validation", "test"):
        clips = ds.split(name)
        if name == "validation" and not clips:
            continue
        x, y, paths, bad = datasets.load(clips, samples, progress=_progress)
        skipped += bad
        splits[name] = Split(x, y, tuple(paths))
    noise = []
    if ds.noise:
        noise, bad = datasets.load_noise(ds.noise)
        skipped += bad
        log.info(f"data: {len(noise)} background-noise recordings for augmentation")
    if data.unlabeled:
        try:
            ux, ids, _, bad = datasets.load_unlabeled(data.unlabeled, samples, progress=_progress)
        except FileNotFoundError as e:
            raise DataError(str(e)) from None
        skipped += bad
        splits["unlabeled"] = Split(ux, np.full(len(ids), UNLABELLED, np.int64), tuple(ids))
    if skipped:
        why = Counter(s["reason"].split(" (")[0] for s in skipped)
        log.info(f"data: {len(skipped)} files skipped: " + "; ".join(f"{n} × {r}" for r, n in why.most_common()))
    for s in skipped:
        log.info(f"  skipped {s['path']}: {s['reason']}")
    if not len(splits["train"]):
        raise DataError(f"no usable training clips in {root} ({len(skipped)} files skipped; see the list above)")
    c = Corpus(
        root,
        tuple(ds.labels),
        splits["train"],
        splits["test"],
        splits.get("validation"),
        splits.get("unlabeled"),
        tuple(noise),
        tuple(skipped),
    )
    log.info(
        f"data: {len(c.train)} train / {len(c.test)} test clips, {len(c.labels)} labels, {len(skipped)} files skipped"
    )
    return c
