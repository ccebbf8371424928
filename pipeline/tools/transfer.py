"""Does the student keep what the teacher knows? Several runs' linear probes side by side, judged.

    brillsson transfer OUT_A OUT_B … --out transfer.png [--labels "before,after"]

Each OUT is a run folder with `eval.json` (written by `brillsson run --eval-tasks …` or `brillsson
evaluate`). For every task the probes scored, the tool asks whether the task *ranks representations*:
the teacher beats the log-mel statistics baseline by more than two standard errors (a binomial
standard error on the task's test clips). On those tasks it checks the targets of distillation that
transfers: the last exit at 0.97x the teacher or more, every exit above the log-mel baseline, and the
exits ordered (none more than one standard error below the exit before it). Writes the PNG (one panel
per teacher and task: accuracy over the exits, one line per run, teacher and log-mel dashed) and the
table as .md and .json beside it.

```python
from pipeline.tools import transfer
rows = transfer.collect(["runs/before", "runs/after"], ["before", "after"])
rows[1]["tasks"]["language"]["targets"]     # {"last_over_teacher": True, "above_log_mel": True, "ordered": False}
```
"""

from __future__ import annotations

import argparse
import json
import os
from typing import List, Optional, Sequence

from export.files import atomic_write
from pipeline.errors import DataError
from pipeline.spread import standard_error  # the binomial standard error the reports use
from pipeline import usage

LAST_OVER_TEACHER = 0.97


def judge(task: dict) -> dict:
    """One task of an `eval.json`: does it rank representations, and which targets do the exits meet.

    Args:
        task: `eval.json["tasks"][name]`: teacher, exits, baseline accuracies and test_clips.

    Returns:
        {"se", "ranks", "last_over_teacher" (the ratio), "targets": {name: bool}}; `ranks` is False where
        the teacher does not beat log-mel statistics by more than two standard errors (the targets are
        then reported but do not count).
    """
    clips, teacher, exits, mel = task["test_clips"], task["teacher"], task["exits"], task["baseline"]
    se = standard_error(teacher, clips)
    ratio = exits[-1] / teacher if teacher else float("nan")
    ordered = all(b >= a - standard_error(a, clips) for a, b in zip(exits, exits[1:]))
    return {
        "se": se,
        "ranks": teacher - mel > 2 * se,
        "last_over_teacher": ratio,
        "targets": {
            "last_over_teacher": ratio >= LAST_OVER_TEACHER,
            "above_log_mel": all(e > mel for e in exits),
            "ordered": ordered,
        },
    }


def collect(outs: Sequence[str], labels: Optional[Sequence[str]] = None) -> List[dict]:
    """One row per run: its teacher and, per task, the accuracies and `judge`'s verdict.

    Raises:
        DataError: for a folder without a readable eval.json.
    """
    rows = []
    for i, out in enumerate(outs):
        path = os.path.join(out, "eval.json")
        try:
            with open(path) as f:
                r = json.load(f)
            tasks = r["tasks"]
        except (OSError, ValueError, KeyError) as e:
            raise DataError(
                f"{path}: no linear-probe results ({e}); run with --eval-tasks or brillsson evaluate"
            ) from e
        rows.append(
            {
                "label": labels[i] if labels else os.path.basename(os.path.normpath(out)),
                "out": out,
                "teacher": os.path.basename(os.path.normpath(r.get("teacher", {}).get("handle") or "teacher")),
                "tasks": {
                    name: {k: t[k] for k in ("teacher", "exits", "baseline", "test_clips")} | judge(t)
                    for name, t in tasks.items()
                },
            }
        )
    return rows


def markdown(rows: List[dict]) -> str:
    """The table: per run and task, teacher, every exit, log-mel, the ratio and the targets met."""
    lines = [
        "| run | teacher | task (test clips) | teacher | exits | log-mel stats | last exit / teacher | "
        "targets (ranking tasks only) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for name, t in row["tasks"].items():
            met = t["targets"]
            verdict = (
                ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in met.items())
                if t["ranks"]
                else "does not rank (teacher not 2 SE above log-mel)"
            )
            exits = " / ".join(f"{e:.3f}" for e in t["exits"])
            lines.append(
                f"| {row['label']} | {row['teacher']} | {name} ({t['test_clips']}) | {t['teacher']:.3f} | {exits} | "
                f"{t['baseline']:.3f} | {t['last_over_teacher']:.2f} | {verdict} |"
            )
    return "\n".join(lines) + "\n"


def plot(rows: List[dict], path: str) -> str:
    """One panel per (teacher, task): accuracy over the exits, one line per run; teacher and log-mel dashed."""
    from matplotlib.figure import Figure  # pyplot-free: no backend is chosen

    teachers = list(dict.fromkeys(r["teacher"] for r in rows))
    tasks = list(dict.fromkeys(name for r in rows for name in r["tasks"]))
    height = 3.3 * len(teachers) + 0.9
    fig = Figure(figsize=(3.8 * len(tasks), height))
    axes = fig.subplots(len(teachers), len(tasks), squeeze=False)
    labels = list(dict.fromkeys(r["label"] for r in rows))
    handles = {}
    for i, teacher in enumerate(teachers):
        for j, name in enumerate(tasks):
            ax = axes[i][j]
            runs = [r for r in rows if r["teacher"] == teacher and name in r["tasks"]]
            if not runs:
                ax.set_axis_off()
                continue
            for row in runs:
                t = row["tasks"][name]
                ks = range(1, len(t["exits"]) + 1)
                handles[row["label"]] = ax.errorbar(
                    ks,
                    t["exits"],
                    yerr=[standard_error(e, t["test_clips"]) for e in t["exits"]],
                    fmt="o-",
                    capsize=3,
                    color=f"C{labels.index(row['label']) % 10}",
                )
            t = runs[0]["tasks"][name]
            handles["teacher"] = ax.axhline(t["teacher"], color="0.4", ls="--", lw=1)
            handles["0.97x teacher"] = ax.axhline(t["teacher"] * LAST_OVER_TEACHER, color="0.4", ls=":", lw=1)
            handles["log-mel statistics"] = ax.axhline(t["baseline"], color="y", ls="--", lw=1)
            ax.set_xticks(list(range(1, len(t["exits"]) + 1)))
            ax.set_xlabel("exit")
            ax.set_ylabel(f"probe accuracy ({t['test_clips']} test clips)", fontsize=8)
            ranks = "" if t["ranks"] else " (does not rank)"
            ax.set_title(f"teacher {teacher}: {name}{ranks}", fontsize=9)
            ax.grid(alpha=0.3)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.9 / height, 1, 1))
    fig.savefig(path, dpi=110)
    return path


def main(argv=None, prog: str = "brillsson transfer") -> List[dict]:
    from pipeline.errors import as_command

    p = argparse.ArgumentParser(prog=prog, description=usage.summary(__doc__))
    p.add_argument("outs", nargs="+", metavar="OUT", help="run folders with eval.json")
    p.add_argument("--out", required=True, help="the PNG; the table goes beside it as .md and .json")
    p.add_argument("--labels", help="comma-separated names, one per OUT (default: the folder names)")
    p.add_argument("--quiet", action="store_true", help="print nothing (the PNG, .md and .json are written)")
    a = p.parse_args(argv)
    labels = a.labels.split(",") if a.labels else None
    if labels and len(labels) != len(a.outs):
        p.error(f"{len(labels)} labels for {len(a.outs)} run folders")

    def run() -> List[dict]:
        rows = collect(a.outs, labels)
        stem = os.path.splitext(a.out)[0]
        atomic_write(stem + ".json", json.dumps(rows, indent=1).encode())
        atomic_write(stem + ".md", markdown(rows).encode())
        plot(rows, a.out)
        if not a.quiet:
            print(markdown(rows), end="")
        return rows

    return as_command(run)


if __name__ == "__main__":
    main()
