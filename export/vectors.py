"""Shared test vectors: inputs and the Python runtime's early-exit decisions, for other runtimes.

    brillsson vectors android_demo/app/src/test/resources/early_exit_vectors.json

```python
from export import vectors
vectors.write("vectors.json", per_exit_probs, thresholds=[0.0, 0.3, 1.0])   # from a real model
```
The Android app's JUnit tests read the file and must make the same decisions
(`export.runtime.decide`). Probabilities are stored as float32 values, as the app sees them.
"""

import json

import numpy as np

from export.runtime import decide, normalized_entropy

VERSION = 1


def _f32(p):
    return [float(v) for v in np.asarray(p, np.float32).ravel()]


def entropy_case(p):
    """One entropy test case.

    Args:
        p: class probabilities (stored as float32 values).

    Returns:
        {"probs": the probabilities, "normalized_entropy": `normalized_entropy` of them}.
    """
    p = _f32(p)
    return {"probs": p, "normalized_entropy": normalized_entropy(p)}


def decision_case(threshold, per_exit):
    """One decision test case.

    Args:
        threshold: the normalized-entropy threshold.
        per_exit: one array of class probabilities per exit (stored as float32 values).

    Returns:
        {"threshold", "probs": per exit, and `decide`'s "exit", "label", "probability", "entropies"}.
    """
    per_exit = [_f32(p) for p in per_exit]
    return {"threshold": float(threshold), "probs": per_exit, **decide(per_exit, threshold)}


def edge_cases(seed=0, classes=12, exits=3):
    """Uniform, one-hot, ties, thresholds 0 and 1, entropies exactly at the threshold, random.

    Args:
        seed: the seed of the random (Dirichlet) cases.
        classes: classes of most cases.
        exits: exits of the random decision cases.

    Returns:
        (entropy cases, decision cases), lists of `entropy_case` and `decision_case` dicts.
    """
    rng = np.random.default_rng(seed)

    def dirichlet(alpha, c=classes):
        return rng.dirichlet(np.full(c, alpha)).astype(np.float32)

    onehot = np.zeros(classes, np.float32)
    onehot[4] = 1
    tie = np.zeros(classes, np.float32)
    tie[[2, 7]] = 0.5
    ent = [
        entropy_case(p)
        for p in (
            [0.7, 0.2, 0.1],
            [0.5, 0.5],
            [0.25] * 4,
            np.full(classes, 1 / classes),
            onehot,
            [1.0],
            [0.5, 0.5, 0.0, 0.0],
            [0.999, 0.001],
        )
    ]
    ent += [entropy_case(dirichlet(a, c)) for c, a in ((classes, 0.1), (classes, 1.0), (3, 0.5), (35, 0.3))]
    p3 = np.asarray([0.7, 0.2, 0.1], np.float32)
    dec = [
        decision_case(0.0, [dirichlet(1.0), onehot, dirichlet(1.0)]),  # entropy 0 <= 0
        decision_case(0.0, [dirichlet(0.3), dirichlet(0.2), dirichlet(0.1)]),  # last exit forced
        decision_case(1.0, [[0.25] * 4, [0.1, 0.7, 0.1, 0.1], [0, 1, 0, 0]]),  # exactly 1 <= 1
        decision_case(0.5, [[0.4, 0.3, 0.2, 0.1], [0.5, 0.5, 0, 0], [0, 0, 1, 0]]),  # exactly at threshold
        decision_case(normalized_entropy(p3), [[0.4, 0.35, 0.25], p3, [1, 0, 0]]),
        decision_case(0.3, [tie, dirichlet(1.0), dirichlet(1.0)]),  # tie → lowest index
        decision_case(1.0, [np.full(classes, 1 / classes, np.float32), onehot, onehot]),
    ]
    for t in (0.05, 0.2, 0.35, 0.5, 0.8):
        for _ in range(4):
            dec.append(decision_case(t, [dirichlet(a) for a in rng.choice([0.05, 0.2, 1.0], exits)]))
    return ent, dec


def build(per_exit_probs=None, thresholds=(0.0, 0.3, 0.5, 1.0), seed=0):
    """Edge cases, plus (if given) real per-exit probabilities [exits, clips, classes].

    Args:
        per_exit_probs: [exits, clips, classes] probabilities of a real model; None: edge cases only.
        thresholds: the thresholds each real clip is decided at.
        seed: the edge cases' seed.

    Returns:
        {"version", "tolerance", "entropy_cases", "decision_cases"}.
    """
    ent, dec = edge_cases(seed)
    if per_exit_probs is not None:
        n_clips = len(per_exit_probs[0])
        for i in range(n_clips):
            clip = [p[i] for p in per_exit_probs]
            ent.append(entropy_case(clip[0]))
            for t in thresholds:
                dec.append(decision_case(t, clip))
    return {"version": VERSION, "tolerance": 1e-5, "entropy_cases": ent, "decision_cases": dec}


def write(path, per_exit_probs=None, thresholds=(0.0, 0.3, 0.5, 1.0)):
    """Write the test vectors (`build`) as JSON.

    Args:
        path: the file to write.
        per_exit_probs: [exits, clips, classes] probabilities of a real model; None: edge cases only.
        thresholds: the thresholds each real clip is decided at.

    Returns:
        `path`.
    """
    with open(path, "w") as f:
        json.dump(build(per_exit_probs, thresholds), f, indent=1)
    return path


def check(data):
    """Decisions of `data` that disagree with the Python runtime (empty when all agree).

    Args:
        data: a test-vector document (`build`).

    Returns:
        The disagreeing cases as "entropy_cases[i]" and "decision_cases[i]" strings.
    """
    bad = []
    for i, c in enumerate(data["entropy_cases"]):
        if abs(normalized_entropy(c["probs"]) - c["normalized_entropy"]) > data["tolerance"]:
            bad.append(f"entropy_cases[{i}]")
    for i, c in enumerate(data["decision_cases"]):
        d = decide(c["probs"], c["threshold"])
        if (d["exit"], d["label"]) != (c["exit"], c["label"]) or abs(d["probability"] - c["probability"]) > 1e-6:
            bad.append(f"decision_cases[{i}]")
    return bad
