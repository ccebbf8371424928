"""Entropy thresholds for early exit, chosen on labelled held-out clips.

```python
from pipeline import calibrate
sweep = calibrate.sweep(per_exit_probs, labels, stage_ms)   # accuracy / latency per threshold
th = calibrate.choose(sweep, last_accuracy)                 # {"within_1pct": {...}, "fastest_95pct": {...}}
```
`per_exit_probs` is [exits, clips, classes]; `stage_ms[k]` the latency of stage k+1, so a
clip that stops at exit k costs sum(stage_ms[:k]).
"""

import json

import numpy as np

from export.files import atomic_write
from export.runtime import decide, normalized_entropy
from models.frontend import SAMPLE_RATE

TARGETS = {
    # name: (description, accuracy floor as a function of the last exit's accuracy)
    "within_1pct": ("accuracy within 1 point of the last exit", lambda a: a - 0.01),
    "fastest_95pct": ("fastest at 95 % of the last exit's accuracy", lambda a: 0.95 * a),
}


def fit_temperature(probs, labels):
    """The temperature T that makes softmax(log p / T) best calibrated on labelled clips (least negative
    log-likelihood; Guo et al., 2017). T > 1 softens an overconfident exit, T < 1 sharpens a timid one.

    ```python
    T = calibrate.fit_temperature(val_probs, val_labels)
    ```
    """
    logp = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, 1.0))
    labels = np.asarray(labels)
    if not len(labels):
        return 1.0

    def nll(t):
        z = logp / t
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]))

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 241))  # 1/40 of an e-fold apart: finer than it matters
    return float(min(grid, key=nll))


def simulate(per_exit_probs, labels, stage_ms, threshold):
    n_exits = len(per_exit_probs)
    cum = np.cumsum(stage_ms)
    exits, correct = [], []
    for i in range(len(labels)):
        d = decide([per_exit_probs[k][i] for k in range(n_exits)], threshold)
        exits.append(d["exit"])
        correct.append(d["label"] == labels[i])
    exits = np.asarray(exits, np.int64)
    if not len(exits):
        return {
            "threshold": float(threshold),
            "accuracy": None,
            "mean_latency_ms": None,
            "exit_histogram": [0] * n_exits,
            "exits": exits,
        }
    return {
        "threshold": float(threshold),
        "accuracy": float(np.mean(correct)),
        "mean_latency_ms": float(np.mean(cum[exits - 1])),
        "exit_histogram": [int(np.sum(exits == k)) for k in range(1, n_exits + 1)],
        "exits": exits,
    }


def sweep(per_exit_probs, labels, stage_ms, points=51):
    """Thresholds 0..1 plus every entropy the clips produce (so no decision change is missed)."""
    ents = {round(normalized_entropy(p), 6) for probs in per_exit_probs[:-1] for p in probs}
    grid = sorted(set(np.round(np.linspace(0, 1, points), 6)) | ents)
    out = []
    for t in grid:
        r = simulate(per_exit_probs, labels, stage_ms, t)
        r.pop("exits")
        out.append(r)
    return out


def choose(points, last_accuracy):
    """Per target: the fastest threshold whose accuracy meets the target's floor."""
    chosen = {}
    for name, (desc, floor) in TARGETS.items():
        ok = [p for p in points if p["accuracy"] >= floor(last_accuracy) - 1e-9]
        best = min(ok, key=lambda p: (p["mean_latency_ms"], -p["threshold"])) if ok else points[0]
        chosen[name] = {**best, "description": desc}
    return chosen


def per_class_exit(per_exit_probs, labels, label_names, threshold):
    """Mean exit index per class at `threshold` (sample difficulty)."""
    n = len(per_exit_probs)
    r = simulate(per_exit_probs, labels, np.zeros(n), threshold)
    labels = np.asarray(labels)
    return {name: float(np.mean(r["exits"][labels == i])) for i, name in enumerate(label_names) if np.any(labels == i)}


def cross_validated(per_exit_probs, labels, stage_ms, folds=2, seed=0):
    """Honest figures for each target: thresholds chosen on some folds, scored on the other.

    With fewer clips than 2 per fold the figures are None, with a note saying why.
    """
    labels = np.asarray(labels)
    if len(labels) < 2 * folds:
        note = f"not computed: {len(labels)} test clips are too few for {folds}-fold cross-validation"
        return {name: {"accuracy": None, "mean_latency_ms": None, "note": note} for name in TARGETS}
    idx = np.random.default_rng(seed).permutation(len(labels))
    parts = np.array_split(idx, folds)
    scored = {name: [] for name in TARGETS}
    for f in range(folds):
        test = parts[f]
        fit = np.concatenate([parts[g] for g in range(folds) if g != f])
        sub = [np.asarray(p)[fit] for p in per_exit_probs]
        last = float(np.mean(np.argmax(sub[-1], 1) == labels[fit]))
        chosen = choose(sweep(sub, labels[fit], stage_ms), last)
        for name, c in chosen.items():
            r = simulate([np.asarray(p)[test] for p in per_exit_probs], labels[test], stage_ms, c["threshold"])
            scored[name].append((len(test), r["accuracy"], r["mean_latency_ms"]))
    return {
        name: {
            "accuracy": float(sum(n * a for n, a, _ in s) / len(labels)),
            "mean_latency_ms": float(sum(n * m for n, _, m in s) / len(labels)),
        }
        for name, s in scored.items()
    }


def last_exit_only(num_exits, reason):
    """The targets when there is nothing to calibrate on: threshold 0, the last exit always answers."""
    return {
        name: {
            "threshold": 0.0,
            "accuracy": None,
            "mean_latency_ms": None,
            "exit_histogram": [0] * num_exits,
            "description": f"{desc}; not calibrated ({reason}): threshold 0, the last exit answers",
        }
        for name, (desc, _) in TARGETS.items()
    }


def write_thresholds(layout, chosen, num_exits, clip_samples, default="within_1pct"):
    """OUT/thresholds.json (`layout.thresholds`): what the runtimes read."""
    data = {
        "default": default,
        "num_exits": num_exits,
        "sample_rate": SAMPLE_RATE,
        "clip_samples": clip_samples,
        "targets": {
            k: {kk: v[kk] for kk in ("threshold", "accuracy", "mean_latency_ms", "description")}
            for k, v in chosen.items()
        },
    }
    return atomic_write(layout.thresholds, json.dumps(data, indent=2).encode())
