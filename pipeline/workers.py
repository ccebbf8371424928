"""Training on several workers: `--strategy multiworker` (tf.distribute.MultiWorkerMirroredStrategy)
across processes or hosts named in TF_CONFIG.

Every worker runs the same run with its own TF_CONFIG and its own `--out`; they train in lock
step (gradients all-reduced every step) and end with the same weights. The chief (worker 0)
then exports and measures as a one-worker run does; the others stop after training, leaving
their checkpoint and `worker.json` (a digest of their weights).

    # N processes on loopback ports of this host: OUT/worker-K, OUT/workers.json (weights identical?)
    python -m pipeline.workers --local 2 --out OUT -- --data DIR --data-format shards --shards SHARDS [flags]
    # the same, every worker stopping after training (a test of the setup, or a training benchmark)
    python -m pipeline.workers --local 2 --train-only --out OUT -- [flags]
    # real hosts: on host i of h0,h1 (same flags, shards on a filesystem both mount, or a copy each)
    TF_CONFIG='{"cluster": {"worker": ["h0:12345", "h1:12345"]}, "task": {"type": "worker", "index": i}}' \
        python pipeline/run.py --strategy multiworker --data-format shards --shards SHARDS --out OUT-i [flags]

```python
from pipeline import workers
workers.tf_config(["localhost:20001", "localhost:20002"], 1)   # the TF_CONFIG of worker 1
workers.weights_digest("OUT/worker-0/checkpoints/student-<key>.weights.h5")
```
"""

import argparse
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from typing import List, Tuple

from export.files import atomic_write
from pipeline import student, views
from pipeline import usage

log = logging.getLogger("pipeline.workers")  # not __name__: run with -m this module is __main__
WORKER_JSON = "worker.json"


def tf_config(hosts: List[str], index: int) -> str:
    """TF_CONFIG for worker `index` of the cluster `hosts` ("host:port" each)."""
    return json.dumps({"cluster": {"worker": list(hosts)}, "task": {"type": "worker", "index": int(index)}})


def task() -> Tuple[str, int, int]:
    """(task type, index, workers) from TF_CONFIG; ("worker", 0, 1) without one."""
    try:
        c = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except ValueError:
        c = {}
    t = c.get("task", {})
    return t.get("type", "worker"), int(t.get("index", 0)), len(c.get("cluster", {}).get("worker", [])) or 1


def is_chief() -> bool:
    """Worker 0 (or a "chief" task) exports and measures; the other workers only train."""
    kind, index, _ = task()
    return kind == "chief" or (kind == "worker" and index == 0)


def describe() -> str:
    kind, index, n = task()
    return f"{kind} {index} of {n}{' (chief: exports and measures)' if is_chief() else ' (trains only)'}"


def weights_digest(path) -> str:
    """SHA-256 over every weight array of a Keras .weights.h5 file, by name (the file's own bytes may differ)."""
    import h5py

    h = hashlib.sha256()

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            h.update(name.encode())
            h.update(obj[()].tobytes())

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return h.hexdigest()


def train_only(cfg, corpus, goal, layout, t0) -> dict:
    """A non-chief worker's run: train (in lock step with the others), write worker.json, stop."""
    extra = views.teacher_views(corpus, goal, cfg, layout) if cfg.train.teacher_views else None  # as the chief
    trained = student.train_student(corpus, goal, cfg, layout, views=extra)
    r = {
        "worker": describe(),
        "student": trained.section(),
        "weights_sha256": weights_digest(trained.checkpoint),
        "epoch_seconds": trained.epoch_seconds,
        "wall_seconds": round(time.time() - t0, 1),
    }
    atomic_write(layout.path(WORKER_JSON), json.dumps(r, indent=1).encode())
    log.info(f"multiworker: {describe()} done; weights {r['weights_sha256'][:12]} in {trained.checkpoint}")
    return r


def free_ports(n) -> List[int]:
    """`n` free TCP ports on the loopback interface."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("localhost", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def train_worker(argv: List[str]) -> dict:
    """One worker that only trains (`--train-only`): the run's stages 1-3 under its strategy, then `train_only`."""
    from export.layout import Layout
    from pipeline import config, distill, extract
    from pipeline import log as log_setup
    from pipeline.lock import OutputLock

    cfg = config.from_argv(argv, prog="python -m pipeline.workers --train-only")
    log_setup.configure(quiet=cfg.quiet)
    t0, layout = time.time(), Layout(cfg.out_dir)
    if cfg.train.strategy == "multiworker":  # before any other TensorFlow op
        distill.get_strategy("multiworker")
    with OutputLock(layout.root):
        corpus, goal = extract.clips_and_targets(cfg, layout)
        return train_only(cfg, corpus, goal, layout, t0)


def launch_local(n, run_flags: List[str], out, timeout=None, train_only=False) -> List[dict]:
    """Run `n` workers of `python -m pipeline.run run_flags --strategy multiworker` (with `train_only`: each
    stops after training) on loopback ports, worker K writing to OUT/worker-K (log: OUT/worker-K.log); returns
    per worker {index, out, returncode, weights_sha256 (None if it did not finish), epoch_seconds}. Workers
    still running after `timeout` s are killed."""
    out = os.path.abspath(str(out))
    os.makedirs(out, exist_ok=True)
    hosts = [f"localhost:{p}" for p in free_ports(n)]
    procs = []
    for k in range(n):
        env = {**os.environ, "TF_CONFIG": tf_config(hosts, k)}
        folder = os.path.join(out, f"worker-{k}")
        log_file = open(os.path.join(out, f"worker-{k}.log"), "w")
        entry = ["pipeline.workers", "--train-only", "--worker", "--"] if train_only else ["pipeline.run"]
        cmd = [sys.executable, "-m", *entry, *run_flags, "--strategy", "multiworker", "--out", folder]
        procs.append((k, folder, log_file, subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT)))
    log.info(f"multiworker: {n} workers on {', '.join(hosts)}; logs in {out}/worker-K.log")
    deadline = None if timeout is None else time.time() + timeout
    results = []
    for k, folder, log_file, p in procs:
        try:
            rc = p.wait(None if deadline is None else max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            for *_, q in procs:
                if q.poll() is None:
                    q.kill()
            rc = p.wait()
        log_file.close()
        side = _read(os.path.join(folder, WORKER_JSON))
        results.append(
            {
                "index": k,
                "out": folder,
                "returncode": rc,
                "weights_sha256": _digest(folder),
                "epoch_seconds": side.get("epoch_seconds"),
            }
        )
    return results


def _read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _digest(folder):
    """The digest of the run's trained weights in `folder` (the newest whole-training checkpoint)."""
    ck = os.path.join(folder, "checkpoints")
    if not os.path.isdir(ck):
        return None
    done = [
        os.path.join(ck, f)
        for f in os.listdir(ck)
        if f.startswith("student-") and f.endswith(".weights.h5") and f.count("-") == 1
    ]
    return weights_digest(max(done, key=os.path.getmtime)) if done else None


def main(argv=None, prog="brillsson workers"):
    """`brillsson workers --local N --out OUT -- [run flags]` (or `python -m pipeline.workers …`): N local
    workers; exit status 1 unless every worker finished and their weights agree."""
    from pipeline import log as log_setup

    argv = list(sys.argv[1:] if argv is None else argv)
    flags = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(prog=prog, description=usage.summary(__doc__))
    p.add_argument("--local", type=int, default=2, help="worker processes on this host (default: 2)")
    p.add_argument("--out", help="folder: OUT/worker-K per worker, and their logs")
    p.add_argument("--timeout", type=float, default=None, help="seconds before the workers are killed")
    p.add_argument("--train-only", action="store_true", help="every worker stops after training (no export)")
    p.add_argument("--quiet", action="store_true", help="no progress lines (a worker's own: --quiet after --)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one worker, started by --local
    a = p.parse_known_args(own)[0]
    if a.worker:
        return train_worker(flags)
    if not a.out:
        p.error("--out is required")
    log_setup.configure(quiet=a.quiet)
    t0 = time.time()
    results = launch_local(a.local, flags, a.out, a.timeout, a.train_only)
    digests = {r["weights_sha256"] for r in results}
    same = len(digests) == 1 and None not in digests and all(r["returncode"] == 0 for r in results)
    summary = {"workers": results, "identical_weights": same, "wall_seconds": round(time.time() - t0, 1)}
    atomic_write(os.path.join(os.path.abspath(a.out), "workers.json"), json.dumps(summary, indent=1).encode())
    for r in results:
        log.info(f"worker {r['index']}: exit {r['returncode']}, weights {str(r['weights_sha256'])[:12]}, {r['out']}")
    log.info(f"multiworker: weights identical on every worker: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)
    return summary


if __name__ == "__main__":
    from pipeline.workers import main as workers_main  # the module under its own name

    workers_main()
