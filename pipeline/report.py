"""report.json, report.md and tradeoff.png from the figures of a run.

```python
from pipeline import report
report.write(out_dir, figures)    # figures: dict with the keys of DESIGN.md
```
"""
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _fmt(v, spec=".3f"):
    return "n/a" if v is None else format(v, spec)


def markdown(r):
    t, s, m, d = r["teacher"], r["student"], r["model"], r["data"]
    lines = [f"# Run report: {r.get('run_name', '')}", ""]
    if t.get("stand_in"):
        lines += ["> **Stand-in teacher.** TRILLsson was not used: the teacher is a float model with "
                  "TRILLsson's interface built by this run (fixed random convolutional features of the log-mel spectrogram). "
                  "Accuracy figures say how well the student copies *that* teacher.", ""]
    lines += [f"- teacher: `{t['handle']}` (stand-in: {t['stand_in']}), embedding {t['embedding_dim']}-d, "
              f"{t['clips_embedded']} clips embedded, {t['cache_hits']} cache hits",
              f"- student: `{s['family']}`, {s['exits']} exits, {s['params']:,} parameters",
              f"- data: {d['clips']} clips, {len(d['labels'])} labels, {len(d['skipped'])} skipped",
              f"- model: `{m['path']}`, {m['bytes']:,} bytes, binary MAC fraction {m['binary_mac_fraction']:.3f}",
              ""]
    lines += ["| exit | file | bytes | LCE latency (ms) | accuracy | embedding cosine |",
              "|---|---|---|---|---|---|"]
    for e in r["exits"]:
        lines.append(f"| {e['index']} | `{e['path']}` | {e['bytes']:,} | {_fmt(e['latency_ms'])} | "
                     f"{_fmt(e['accuracy'])} | {_fmt(e['embedding_cosine'])} |")
    if "parity" in r:
        lines += ["", f"Parity Keras vs LCE TFLite (worst absolute difference over exits and test clips): "
                      f"{r['parity']['max_abs_diff']:.2e}; top-1 agreement {r['parity'].get('top1_agreement', 0):.3f}."]
    if d["skipped"]:
        lines += ["", "## Skipped files", ""] + [f"- `{x['path']}`: {x['reason']}" for x in d["skipped"]]
    lines += ["", "Latency: median of repeated single-clip runs with LCE's interpreter, 1 thread, on the machine "
                  "that ran the pipeline (x86 runs LCE's portable kernels; a Raspberry Pi runs its ARM ones)."]
    return "\n".join(lines) + "\n"


def plot_tradeoff(r, path):
    ex = r["exits"]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot([e["latency_ms"] for e in ex], [e["accuracy"] for e in ex], "o-", label="exit k alone")
    for e in ex:
        ax.annotate(f"exit {e['index']}", (e["latency_ms"], e["accuracy"]), textcoords="offset points", xytext=(5, -10))
    if r.get("early_exit"):
        pts = sorted(r["early_exit"], key=lambda p: p["mean_latency_ms"])
        ax.plot([p["mean_latency_ms"] for p in pts], [p["accuracy"] for p in pts], "s--", alpha=0.7,
                label="early exit, threshold sweep")
    ax.set_xlabel("latency per clip (ms, LCE interpreter, 1 thread)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy vs latency")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(out_dir, r):
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(r, f, indent=2)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(markdown(r))
    plot_tradeoff(r, os.path.join(out_dir, "tradeoff.png"))
    return [os.path.join(out_dir, n) for n in ("report.json", "report.md", "tradeoff.png")]
