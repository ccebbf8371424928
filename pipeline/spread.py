"""Spread over seeds: every accuracy figure of N training runs as mean, standard deviation and
the per-seed values, and the rule that picks the model that ships.

```python
from pipeline import spread
spread.summary([0.71, 0.74, 0.69])      # {"mean": 0.713, "sd": 0.025, "values": [...], "n": 3}
spread.standard_error(0.7, 96)          # one standard error of an accuracy on 96 test clips
combined = spread.combine(reports)      # reports: one run report per seed
```
"""

import math

import numpy as np

SHIPPED_RULE = (
    "the seed whose last-exit test accuracy is the median of the seeds (the lowest seed on a tie), "
    "so the shipped files are a typical draw, not the luckiest"
)


def summary(values):
    """Mean, sample standard deviation (0 for one value) and the values themselves."""
    v = [float(x) for x in values if x is not None]
    if not v:
        return {"mean": None, "sd": None, "values": [], "n": 0}
    return {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "values": v, "n": len(v)}


def standard_error(accuracy, clips):
    """One standard error of an accuracy measured on `clips` test clips (binomial)."""
    if accuracy is None or not clips:
        return None
    return math.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / clips)


def shipped_index(reports):
    """Index of the report that ships (`SHIPPED_RULE`)."""
    last = [r["exits"][-1]["accuracy"] for r in reports]
    order = sorted(range(len(reports)), key=lambda i: (last[i], i))
    return order[(len(order) - 1) // 2]


def combine(reports, seeds):
    """The `repeats` section of report.json from one run report per seed."""
    n_exits = min(len(r["exits"]) for r in reports)
    out = {
        "seeds": list(seeds),
        "test_clips": reports[0]["data"]["test_clips"],
        "exits": [
            {
                "index": k + 1,
                "accuracy": summary(r["exits"][k]["accuracy"] for r in reports),
                "embedding_cosine": summary(r["exits"][k].get("embedding_cosine") for r in reports),
                "latency_ms": summary(r["exits"][k]["latency_ms"] for r in reports),
            }
            for k in range(n_exits)
        ],
        "early_exit_targets": {},
        "shipped_seed": seeds[shipped_index(reports)],
        "shipped_rule": SHIPPED_RULE,
    }
    for name in reports[0].get("early_exit_targets", {}):
        ts = [r["early_exit_targets"][name] for r in reports]
        out["early_exit_targets"][name] = {
            "threshold": summary(t["threshold"] for t in ts),
            "accuracy": summary(t["accuracy"] for t in ts),
            "mean_latency_ms": summary(t["mean_latency_ms"] for t in ts),
            "cross_validated": {
                k: summary(t["cross_validated"][k] for t in ts) for k in ("accuracy", "mean_latency_ms")
            },
        }
    if all((r.get("baseline") or {}).get("accuracy") is not None for r in reports):  # the int8 baseline, per seed
        bs = [r["baseline"] for r in reports]
        out["baseline"] = {
            "name": bs[0]["name"],
            **{
                k: summary(b.get(k) for b in bs)
                for k in ("accuracy", "float_accuracy", "latency_ms", "device_estimate_ms", "early_exit_minus_baseline")
            },
        }
    if all((r.get("float_twin") or {}).get("exits") for r in reports):  # the same network in float, per seed
        n_twin = min(len(r["float_twin"]["exits"]) for r in reports)
        out["float_twin"] = {
            "exits": [
                {
                    "index": k + 1,
                    "accuracy": summary(r["float_twin"]["exits"][k].get("accuracy") for r in reports),
                    "latency_ms": summary(r["float_twin"]["exits"][k].get("latency_ms") for r in reports),
                    "float_minus_binary": summary(
                        r["float_twin"]["binarization_gap"][k]["float_minus_binary"] for r in reports
                    ),
                }
                for k in range(n_twin)
            ]
        }
    if all("eval" in r for r in reports):
        tasks = reports[0]["eval"]["tasks"]
        out["eval"] = {
            task: {
                "teacher": summary(r["eval"]["tasks"][task]["teacher"] for r in reports),
                "baseline": summary(r["eval"]["tasks"][task]["baseline"] for r in reports),
                "exits": [
                    summary(r["eval"]["tasks"][task]["exits"][k] for r in reports)
                    for k in range(len(tasks[task]["exits"]))
                ],
            }
            for task in tasks
        }
    return out


def fmt(s, spec=".3f"):
    """ "0.713 ± 0.025 (n=3)" for a summary."""
    if not s or s.get("mean") is None:
        return "n/a"
    return f"{format(s['mean'], spec)} ± {format(s['sd'], spec)} (n={s['n']})"
