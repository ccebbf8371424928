"""The data-at-scale figures, measured on this machine: peak resident memory of full runs on a
corpus at 1x and at `--times` x its size (symbolic links), decode clips/s, teacher clips/s in one
process and on Beam's DirectRunner with 2 workers, training clips/s on 1 and 2 workers.

    python -m pipeline.tools.scale_benchmark --data /work/data/s1/keywords --unlabeled /work/data/s1/unlabeled \
        --work /tmp/scale --out scale.json [--times 10] [--epochs 2] [--steps runs,teacher,train] [--memory]

Each step appends its figures to `--out` (written atomically after every step, so a stopped
benchmark keeps what it measured). Full runs are child processes of `python pipeline/run.py`;
their peak resident memory is the child's own `ru_maxrss` (`os.wait4` in a small process that
forks and execs it, as `/usr/bin/time -v` does). `--memory` also runs the in-memory data path at both sizes, for contrast.

```python
from pipeline.tools import scale_benchmark
scale_benchmark.replicate("/work/data/s1/keywords", "/tmp/k10", times=10)   # 10 links per file
rc, seconds, peak_mb = scale_benchmark.peak_memory(["pipeline/run.py", "--data", "/tmp/k10"], "/tmp/run.log")
```
"""  # noqa: E501 (docstring kept as written; only its first paragraph is used, as the --help description)

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from export.files import atomic_write
from pipeline import usage

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def replicate(src, dst, times):
    """A copy of the folder tree `src` at `dst` in which every file is `times` symbolic links
    (`<k>_<name>`, k < times): the same corpus, `times` x as many clips. Returns the files linked."""
    n = 0
    for dirpath, _, files in os.walk(src, followlinks=True):
        rel = os.path.relpath(dirpath, src)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for f in files:
            if f.startswith(".") or f.endswith(".txt"):
                continue
            for k in range(times):
                link = os.path.join(dst, rel, f"{k}_{f}")
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(os.path.join(dirpath, f)), link)
                n += 1
    return n


# A small process forks and execs the measured one, as /usr/bin/time does: a child forked from this
# (possibly large) process would start with this process's resident size as its maximum.
_TIMER = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable] + sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_memory(argv, log_path, env=None):
    """Run `python argv…` as a child (output to `log_path`); returns (exit status, seconds, peak resident MB:
    the child's own `ru_maxrss`)."""
    t0 = time.perf_counter()
    peak_file = f"{log_path}.maxrss"
    with open(log_path, "w") as log:
        rc = subprocess.call(
            [sys.executable, "-c", _TIMER, peak_file, *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
    with open(peak_file) as f:
        kib = int(f.read())
    return rc, round(time.perf_counter() - t0, 1), round(kib / 1024, 1)  # ru_maxrss is in KiB on Linux


def _save(out, figures):
    atomic_write(out, json.dumps(figures, indent=1).encode())


def _report(folder):
    with open(os.path.join(folder, "report.json")) as f:
        return json.load(f)


def full_runs(a, figures, data_format):
    """Peak memory and wall time of a full run at 1x and `a.times` x, in `data_format`; with a train/test
    task, also at `a.times` x with the test split kept at 1x ("<times>x-train": what is streamed grows,
    what is scored in memory does not)."""
    sizes = [(1, "1x", a.data, a.unlabeled), (a.times, f"{a.times}x", a.data_x, a.unlabeled_x)]
    if a.data_x_train:
        sizes.append((a.times, f"{a.times}x-train", a.data_x_train, a.unlabeled_x))
    for times, label, data, unlabeled in sizes:
        out = os.path.join(a.work, f"run-{data_format}-{label}")
        argv = [
            "pipeline/run.py",
            "--data",
            data,
            "--teacher",
            "stand-in",
            "--data-format",
            data_format,
            "--epochs",
            str(a.epochs),
            "--head-epochs",
            str(a.epochs),
            "--fine-tune-epochs",
            "0",
            "--runs",
            "5",
            "--out",
            out,
            "--quiet",
        ] + (["--unlabeled", unlabeled] if unlabeled else [])
        rc, seconds, peak = peak_memory(argv, out + ".log")
        r = _report(out) if rc == 0 else {}
        entry = {
            "returncode": rc,
            "wall_seconds": seconds,
            "peak_rss_mb": peak,
            "command": "python " + " ".join(argv),
            "clips": r.get("data", {}).get("clips"),
            "load_average": os.getloadavg()[0],
        }
        if rc == 0 and data_format == "shards":
            with open(os.path.join(out, "shards", "manifest.json")) as f:
                dec = json.load(f).get("decode")
            ext = r["teacher"]["extraction"]
            entry["decode_files_per_s"] = round(dec["files"] / dec["seconds"], 1) if dec else None
            entry["teacher_clips_per_s"] = round(r["teacher"]["clips_embedded"] / max(ext["seconds"], 1e-9), 1)
            entry["exit_accuracy"] = [e["accuracy"] for e in r["exits"]]
        figures.setdefault(f"full_run_{data_format}", {})[label] = entry
        _save(a.out, figures)
        if not a.quiet:
            print(f"full run {data_format} {label}: {entry}", flush=True)
    runs = figures[f"full_run_{data_format}"]
    for _, label, _, _ in sizes[1:]:
        runs[f"peak_ratio_{label}"] = round(runs[label]["peak_rss_mb"] / runs["1x"]["peak_rss_mb"], 3)
    _save(a.out, figures)


def teacher_throughput(a, figures):
    """Teacher clips/s on the 1x corpus: in this process, then on the DirectRunner with 2 workers."""
    from pipeline import config, extract, shards

    teacher = os.path.join(a.work, "run-shards-1x", "teacher")
    cfg = config.from_argv(["--data", a.data] + (["--unlabeled", a.unlabeled] if a.unlabeled else []))
    out = {}
    for runner, opts in (
        ("process", None),
        ("beam", "--runner DirectRunner --direct_num_workers 2 --direct_running_mode multi_processing"),
    ):
        folder = os.path.join(a.work, f"teacher-{runner}")
        ss = shards.write(cfg.data, os.path.join(folder, "shards"), shard_clips=cfg.data.shard_clips)
        _, info = extract.extract(
            ss, teacher, cache_dir=os.path.join(folder, "cache"), runner=runner, beam_options=opts
        )
        out[runner] = {
            "clips": info["clips_embedded"],
            "seconds": info["seconds"],
            "clips_per_s": round(info["clips_embedded"] / max(info["seconds"], 1e-9), 1),
            "beam_options": opts,
            "load_average": os.getloadavg()[0],
        }
        if not a.quiet:
            print(f"teacher {runner}: {out[runner]}", flush=True)
    figures["teacher"] = out
    _save(a.out, figures)


def training_throughput(a, figures):
    """Distillation clips/s with 1 and 2 loopback workers (MultiWorkerMirroredStrategy), from the 1x
    run's shards and teacher: the median epoch after the first (which traces the graph)."""
    from pipeline import shards, workers

    run1 = os.path.join(a.work, "run-shards-1x")
    counts = shards.ShardSet(os.path.join(run1, "shards")).counts()
    clips = round((counts.get("train", 0) + counts.get("unlabeled", 0)) * 0.9)  # 10 % held out
    flags = [
        "--data",
        a.data,
        "--teacher",
        os.path.join(run1, "teacher"),
        "--data-format",
        "shards",
        "--shards",
        os.path.join(run1, "shards"),
        "--teacher-cache",
        os.path.join(run1, "teacher_cache"),
        "--epochs",
        "4",
        "--head-epochs",
        "0",
        "--fine-tune-epochs",
        "0",
        "--quiet",
    ] + (["--unlabeled", a.unlabeled] if a.unlabeled else [])
    out = {}
    for n in (1, 2):
        t0 = time.perf_counter()
        res = workers.launch_local(n, flags, os.path.join(a.work, f"train-{n}w"), timeout=1800, train_only=True)
        secs = res[0]["epoch_seconds"] or []
        med = statistics.median(secs[1:]) if len(secs) > 1 else None
        out[f"{n}_workers"] = {
            "returncodes": [r["returncode"] for r in res],
            "epoch_seconds": secs,
            "clips_per_epoch": clips,
            "clips_per_s": round(clips / med, 1) if med else None,
            "identical_weights": len({r["weights_sha256"] for r in res}) == 1,
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "load_average": os.getloadavg()[0],
        }
        if not a.quiet:
            print(f"training {n} worker(s): {out[f'{n}_workers']}", flush=True)
    figures["training"] = out
    _save(a.out, figures)


def main(argv=None, prog="brillsson scale-benchmark"):
    """`brillsson scale-benchmark --data DIR --work DIR --out FIGURES.json [...]`: the data-at-scale figures."""
    p = argparse.ArgumentParser(prog=prog, description=usage.summary(__doc__))
    p.add_argument("--data", required=True)
    p.add_argument("--unlabeled")
    p.add_argument("--work", required=True, help="scratch folder: the replicated corpus, runs, logs")
    p.add_argument("--out", required=True, help="the figures (JSON)")
    p.add_argument("--times", type=int, default=10)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--steps", default="runs,teacher,train")
    p.add_argument("--memory", action="store_true", help="also the in-memory data path at both sizes")
    p.add_argument("--quiet", action="store_true", help="no progress lines (each figure is still saved as it comes)")
    a = p.parse_args(argv)
    a.work, a.out = os.path.abspath(a.work), os.path.abspath(a.out)
    os.makedirs(a.work, exist_ok=True)
    a.data_x = os.path.join(a.work, f"data-{a.times}x")
    a.unlabeled_x = os.path.join(a.work, f"unlabeled-{a.times}x") if a.unlabeled else None
    replicate(a.data, a.data_x, a.times)
    a.data_x_train = None
    if all(os.path.isdir(os.path.join(a.data, d)) for d in ("train", "test")):
        a.data_x_train = os.path.join(a.work, f"data-{a.times}x-train")
        replicate(os.path.join(a.data, "train"), os.path.join(a.data_x_train, "train"), a.times)
        replicate(os.path.join(a.data, "test"), os.path.join(a.data_x_train, "test"), 1)
    if a.unlabeled:
        replicate(a.unlabeled, a.unlabeled_x, a.times)
    figures = {}
    if os.path.exists(a.out):
        with open(a.out) as f:
            figures = json.load(f)
    figures["machine"] = {"cpus": os.cpu_count(), "note": "shared with other jobs; load averages beside each figure"}
    steps = a.steps.split(",")
    if "runs" in steps:
        full_runs(a, figures, "shards")
        if a.memory:
            full_runs(a, figures, "memory")
    if "teacher" in steps:
        teacher_throughput(a, figures)
    if "train" in steps:
        training_throughput(a, figures)
    return figures


if __name__ == "__main__":
    sys.path[0] = ROOT if sys.path[0] == os.path.dirname(os.path.abspath(__file__)) else sys.path[0]
    main()
