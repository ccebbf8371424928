"""The Pareto plot that chooses a default: several configurations, each over its seeds, accuracy against
latency, every exit and the cross-validated early exit, on a Raspberry Pi 4 estimate and as measured here.

    brillsson pareto OUT_A OUT_B … --out pareto.png [--labels "stft,gabor,…"]

Each OUT is a run's folder (`--repeats N` gives OUT/seeds/seed-S/; a single run is one seed). Latencies
measured here change with the machine's load between runs, so the panel that compares runs made at
different times is the device estimate (`export.estimate`: from each stage's ops and MACs, the same
for every run of a network); the early exit is recomputed on those latencies from the exits' own
probabilities on the run's test clips (read again, scored with LCE's interpreter), thresholds
cross-validated as in the run. Writes the PNG and a JSON of the figures beside it.

```python
from pipeline.tools import pareto
rows = pareto.collect(["/tmp/stft", "/tmp/gabor"])   # one row per configuration, mean ± sd over seeds
```
"""

import argparse
import glob
import json
import os
from typing import List

import numpy as np

from export import estimate
from export.files import atomic_write, read_bytes
from export.interpreter import LceModel
from models.students import PROBS, output_name
from pipeline import calibrate, config, spread
from pipeline.corpus import load_corpus
from pipeline import usage


def _seed_folders(out):
    seeds = sorted(glob.glob(os.path.join(out, "seeds", "seed-*")))
    return seeds or [out]


def one_seed(folder, test=None) -> dict:
    """One trained run: accuracy and x86 latency per exit (its report), device-estimate latency per exit,
    and the cross-validated early exit on both (within 1 point of the last exit)."""
    with open(os.path.join(folder, "report.json")) as f:
        r = json.load(f)
    stages = sorted(glob.glob(os.path.join(folder, "stages", "stage_*.tflite")))
    exits = sorted(glob.glob(os.path.join(folder, "exits", "exit_*.tflite")))
    est_ms = [estimate.estimate(read_bytes(p))["ms"] for p in stages]
    probs = [LceModel(read_bytes(p)).predict(test.audio)[output_name(k, PROBS)] for k, p in enumerate(exits, 1)]
    cv = calibrate.cross_validated(probs, test.labels, est_ms)["within_1pct"]
    x86 = r["early_exit_targets"]["within_1pct"].get("cross_validated", {})
    base = r.get("baseline") or {}
    return {
        "accuracy": [e["accuracy"] for e in r["exits"]],
        "x86_ms": [e["latency_ms"] for e in r["exits"]],
        "device_ms": [float(v) for v in np.cumsum(est_ms)],
        "device_early_exit": cv,
        "x86_early_exit": x86,
        "baseline": {
            "accuracy": base.get("accuracy"),
            "x86_ms": base.get("latency_ms"),
            "device_ms": base.get("device_estimate_ms"),
        }
        if base
        else None,
        "test_clips": len(test.labels),
    }


def collect(outs: List[str], labels: List[str] = None) -> List[dict]:
    """One row per run folder: its seeds' figures (`one_seed`) and their mean ± sd."""
    rows = []
    for i, out in enumerate(outs):
        folders = _seed_folders(out)
        with open(os.path.join(folders[0], "report.json")) as f:
            settings = json.load(f)["settings"]
        data = config.build({"data": settings.get("data"), "clip_seconds": settings.get("clip_seconds")}).data
        test = load_corpus(data, seed=settings.get("seed", 0)).test
        seeds = [one_seed(f, test) for f in folders]
        n = len(seeds[0]["accuracy"])
        rows.append(
            {
                "label": labels[i] if labels else os.path.basename(os.path.normpath(out)),
                "folder": out,
                "seeds": len(seeds),
                "test_clips": seeds[0]["test_clips"],
                "exits": [
                    {
                        "index": k + 1,
                        "accuracy": spread.summary(s["accuracy"][k] for s in seeds),
                        "device_ms": spread.summary(s["device_ms"][k] for s in seeds),
                        "x86_ms": spread.summary(s["x86_ms"][k] for s in seeds),
                    }
                    for k in range(n)
                ],
                "device_early_exit": {
                    "accuracy": spread.summary(s["device_early_exit"]["accuracy"] for s in seeds),
                    "ms": spread.summary(s["device_early_exit"]["mean_latency_ms"] for s in seeds),
                },
                "x86_early_exit": {
                    "accuracy": spread.summary(s["x86_early_exit"].get("accuracy") for s in seeds),
                    "over_last_exit": spread.summary(
                        s["x86_early_exit"]["mean_latency_ms"] / s["x86_ms"][-1]
                        for s in seeds
                        if s["x86_early_exit"].get("mean_latency_ms")
                    ),
                },
                "baseline": (
                    {
                        "accuracy": spread.summary(s["baseline"]["accuracy"] for s in seeds),
                        "device_ms": spread.summary(s["baseline"]["device_ms"] for s in seeds),
                        "x86_ms": spread.summary(s["baseline"]["x86_ms"] for s in seeds),
                    }
                    if all(s["baseline"] for s in seeds)
                    else None
                ),
            }
        )
    return rows


def plot(rows, path):
    """Two panels: the device estimate (comparable across runs) and this machine's measured latency."""
    from matplotlib.figure import Figure  # pyplot-free: no backend is chosen

    fig = Figure(figsize=(11, 4.4))
    axes = fig.subplots(1, 2)
    colors = [f"C{i}" for i in range(10)]
    for ax, key, title in (
        (axes[0], "device_ms", "Raspberry Pi 4 estimate (ops × assumed rates)"),
        (axes[1], "x86_ms", "measured here (LCE, x86, 1 thread; runs at different loads)"),
    ):
        for row, color in zip(rows, colors):
            xs = [e[key]["mean"] for e in row["exits"]]
            ys = [e["accuracy"]["mean"] for e in row["exits"]]
            sd = [e["accuracy"]["sd"] for e in row["exits"]]
            ax.errorbar(
                xs,
                ys,
                yerr=sd,
                fmt="o-",
                color=color,
                capsize=3,
                label=f"{row['label']}: exits 1..{len(xs)} ({row['seeds']} seeds)",
            )
            if key == "device_ms":
                ee = row["device_early_exit"]
                ax.errorbar(
                    ee["ms"]["mean"],
                    ee["accuracy"]["mean"],
                    yerr=ee["accuracy"]["sd"],
                    fmt="*",
                    ms=13,
                    color=color,
                    capsize=3,
                )
            else:
                ee = row["x86_early_exit"]
                if ee["over_last_exit"]["mean"] is not None:
                    ax.errorbar(
                        ee["over_last_exit"]["mean"] * xs[-1],
                        ee["accuracy"]["mean"],
                        yerr=ee["accuracy"]["sd"],
                        fmt="*",
                        ms=13,
                        color=color,
                        capsize=3,
                    )
            b = row.get("baseline")
            if b and b[key]["mean"] is not None:
                ax.errorbar(
                    b[key]["mean"],
                    b["accuracy"]["mean"],
                    yerr=b["accuracy"]["sd"],
                    fmt="X",
                    ms=10,
                    color=color,
                    capsize=3,
                    mfc="none",
                )
        ax.set_xlabel("latency per clip (ms)")
        ax.set_ylabel(f"test accuracy ({rows[0]['test_clips']} clips), mean ± sd over seeds")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, title="★ early exit within 1 pt, cross-validated; ✕ int8 DS-CNN", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def markdown(rows) -> str:
    """A table of the rows: accuracy per exit, Pi-estimate latency per exit, early exit on both."""
    lines = [
        "| configuration | seeds × test clips | accuracy exits (mean ± sd) | Pi estimate exits (ms) | "
        "early exit on the Pi estimate: accuracy at ms (x last exit) | early exit here: accuracy at x last exit "
        "| int8 DS-CNN: accuracy, Pi ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        acc = " / ".join(f"{e['accuracy']['mean']:.3f} ± {e['accuracy']['sd']:.3f}" for e in r["exits"])
        dev = " / ".join(f"{e['device_ms']['mean']:.2f}" for e in r["exits"])
        d, x = r["device_early_exit"], r["x86_early_exit"]
        last = r["exits"][-1]["device_ms"]["mean"]
        b = r.get("baseline")
        base = f"{b['accuracy']['mean']:.3f} ± {b['accuracy']['sd']:.3f}, {b['device_ms']['mean']:.2f}" if b else "—"
        here = (
            f"{x['accuracy']['mean']:.3f} at {x['over_last_exit']['mean']:.2f}x"
            if x["over_last_exit"]["mean"] is not None
            else "—"
        )
        lines.append(
            f"| {r['label']} | {r['seeds']} × {r['test_clips']} | {acc} | {dev} | "
            f"{d['accuracy']['mean']:.3f} ± {d['accuracy']['sd']:.3f} at {d['ms']['mean']:.2f} "
            f"({d['ms']['mean'] / last:.2f}x) | {here} | {base} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None, prog="brillsson pareto") -> List[dict]:
    p = argparse.ArgumentParser(prog=prog, description=usage.summary(__doc__))
    p.add_argument("outs", nargs="+", metavar="OUT", help="run folders (with seeds/ from --repeats, or one run)")
    p.add_argument("--out", required=True, help="the PNG; its figures go beside it as .json and .md")
    p.add_argument("--labels", help="comma-separated names, one per OUT (default: the folder names)")
    p.add_argument("--no-baseline", action="store_true", help="leave the int8 baselines out of the figures")
    p.add_argument("--quiet", action="store_true", help="print nothing (the PNG, .json and .md are written)")
    a = p.parse_args(argv)
    labels = a.labels.split(",") if a.labels else None
    if labels and len(labels) != len(a.outs):
        p.error(f"{len(labels)} labels for {len(a.outs)} run folders")
    rows = collect(a.outs, labels)
    if a.no_baseline:
        rows = [{**r, "baseline": None} for r in rows]
    stem = os.path.splitext(a.out)[0]
    atomic_write(stem + ".json", json.dumps(rows, indent=1).encode())
    atomic_write(stem + ".md", markdown(rows).encode())
    written = plot(rows, a.out)
    if not a.quiet:
        print(written)
        print(markdown(rows), end="")
    return rows


if __name__ == "__main__":
    main()
