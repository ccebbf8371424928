"""Clips to score: an array in memory, or a split read from disk in batches.

Scoring and calibration take either `np.ndarray` [n, samples] or any object with `__len__`,
`batches(size)` (an iterator of float32 arrays [<= size, samples], in clip order) and `head(n)` (the
first n clips as an array) — `pipeline.corpus.Split` in memory, `pipeline.shards.StreamedSplit`
streamed from TFRecord shards, so that a test split of any size is never held whole.

```python
from export import clips
for batch in clips.batches(audio_or_split, 256):
    ...
for one in clips.each(audio_or_split):          # [1, samples] at a time
    ...
first = clips.head(audio_or_split, 1)          # [1, samples]: what a latency is timed on
```
"""

from typing import Iterator

import numpy as np

BATCH = 256  # clips decoded at a time: 16 MB of 1 s float32 clips


def batches(clips, size: int = BATCH) -> Iterator[np.ndarray]:
    """The clips of `clips` (an array or a split with `batches`) in order, `size` at a time.

    Args:
        clips: an array [n, samples] or a split with `batches(size)`.
        size: clips per batch.

    Returns:
        An iterator of arrays [<= size, samples].
    """
    if hasattr(clips, "batches"):
        yield from clips.batches(size)
        return
    for i in range(0, len(clips), size):
        yield clips[i : i + size]


def each(clips) -> Iterator[np.ndarray]:
    """The clips one at a time, each as a batch of one [1, samples] (what an interpreter is invoked on).

    Args:
        clips: an array [n, samples] or a split.

    Returns:
        An iterator of arrays [1, samples].
    """
    for b in batches(clips):
        for i in range(len(b)):
            yield b[i : i + 1]


def head(clips, n: int) -> np.ndarray:
    """The first `n` clips (fewer if there are fewer) as a float32 array.

    Args:
        clips: an array [n, samples] or a split with `head(n)`.
        n: how many clips.

    Returns:
        A float32 array [<= n, samples].
    """
    if hasattr(clips, "head"):
        return np.asarray(clips.head(n), np.float32)
    return np.asarray(clips[:n], np.float32)


def _concat(parts):
    """[{name: [b, ...]}] of successive batches → {name: [n, ...]} (an empty dict for no batches)."""
    parts = list(parts)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


def keras_predict(model, clips, size: int = BATCH) -> dict:
    """A Keras model's outputs ({name: [n, ...]}) over `clips`, read batch by batch.

    Args:
        model: a Keras model.
        clips: an array [n, samples] or a split.
        size: clips per batch.

    Returns:
        {output name: [n, ...]} (empty when there are no clips).
    """
    return _concat(
        {k: np.asarray(v) for k, v in _named(model, model.predict_on_batch(b)).items()} for b in batches(clips, size)
    )


def _named(model, out):
    if isinstance(out, dict):
        return out
    outs = out if isinstance(out, (list, tuple)) else [out]
    return dict(zip(model.output_names, outs))
