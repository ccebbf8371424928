"""Representation evaluation, NOSS style: a linear probe on frozen embeddings, per task.

    python -m pipeline.evaluate --model OUT --tasks DIR [--tasks DIR ...] [--teacher HANDLE]
                                [--teacher-output KEY] [--out DIR]

For every task folder (DESIGN.md layout, read with `pipeline.datasets.scan`) it measures
test accuracy of the same linear probe on

- the teacher's embedding (default: `teacher.handle` of OUT/report.json),
- every student exit, run from the exported files OUT/exits/exit_K.tflite with LCE's
  interpreter (what ships is what is measured; output `exitK_embedding`),
- a baseline: mean and standard deviation of each log-mel band.

The exit models take a fixed number of samples (their input shape). A clip is cut into
evenly spaced windows of that length (one window, centre-cropped or zero-padded, for a clip of
under 1.5 windows; duration / window rounded half up otherwise) and every representation
(teacher, exits, baseline) is the mean over the windows of a clip, so all see the same audio.

The probe: standardised features, L2 logistic regression (scikit-learn), C picked from a
small grid on a seeded stratified split of the training clips, refitted on all of them.
Embeddings are cached in OUT/eval_cache (teacher: handle + clip identity; exits: the
.tflite file's SHA-256 + clip identity), so a rerun embeds nothing. Writes eval.json,
eval.md and eval.png to --out (default: the model folder).

```python
from pipeline import evaluate
res = evaluate.evaluate("OUT", ["data/keywords", "data/speaker"])
res["tasks"]["speaker"]["exits"][-1] / res["tasks"]["speaker"]["teacher"]
evaluate.probe(train_x, train_y, test_x, test_y)["accuracy"]
```
"""
import argparse
import glob
import json
import os
import re
import sys
import time
import warnings

if __package__ in (None, ""):  # `python pipeline/evaluate.py`: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pipeline  # noqa: E402,F401  (selects Keras 2 before TensorFlow is imported)

import numpy as np  # noqa: E402

from pipeline import audio as audio_io  # noqa: E402
from pipeline import datasets  # noqa: E402
from pipeline.cache import sha256  # noqa: E402

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # strongest regularisation first: ties go to it
VAL_FRACTION = 0.2
CACHE = "eval_cache"


def say(msg):
    print(f"[eval] {msg}", flush=True)


# ---------------------------------------------------------------- the probe

def probe(train_x, train_y, test_x, test_y, c_grid=C_GRID, val_fraction=VAL_FRACTION, seed=0):
    """Standardise → logistic regression; C chosen on a seeded split of train, refit on all of train.

    Returns {"accuracy": test accuracy, "C": chosen C, "val_accuracy": its accuracy on the split}.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, ShuffleSplit, StratifiedShuffleSplit
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    train_x, test_x = np.asarray(train_x, np.float64), np.asarray(test_x, np.float64)
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    classes, counts = np.unique(train_y, return_counts=True)
    n_val = max(int(round(val_fraction * len(train_y))), len(classes))
    # one BLAS thread: on a shared, busy machine a multi-threaded BLAS spins and is 30x slower
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if len(classes) < 2:
            raise ValueError("a probe needs at least two classes in the training clips")
        if len(train_y) - n_val < len(classes):  # too few clips to hold any out: no grid
            model, c, val = pipe.set_params(logisticregression__C=1.0).fit(train_x, train_y), 1.0, None
        else:
            split = (StratifiedShuffleSplit if counts.min() >= 2 else ShuffleSplit)(
                n_splits=1, test_size=n_val, random_state=seed)
            search = GridSearchCV(pipe, {"logisticregression__C": list(c_grid)}, cv=split, refit=True)
            search.fit(train_x, train_y)
            model, c, val = search, search.best_params_["logisticregression__C"], float(search.best_score_)
    acc = float(np.mean(model.predict(test_x) == test_y)) if len(test_y) else None
    return {"accuracy": acc, "C": float(c), "val_accuracy": val}


# ---------------------------------------------------------------- audio and features

def window_starts(n_samples, window):
    """Start of each window a clip of `n_samples` is cut into (None: one centred window)."""
    count = max(1, int(np.floor(n_samples / window + 0.5)))  # 2.5 → 3
    if count == 1:
        return [None]
    return [int(s) for s in np.linspace(0, n_samples - window, count).round()]


def load_windows(clips, window, progress=None):
    """Decode `clips` and cut each into windows of `window` samples.

    Returns (windows [m, window], owner [m] = clip index, labels [n], paths [n], skipped).
    A clip under 1.5 windows gives one, padded or centre-cropped like `datasets.load`;
    unusable files are skipped and listed the same way (digital silence only where the
    clip's label allows it, `_silence_`).
    """
    xs, owner, ys, paths, skipped = [], [], [], [], []
    last = time.perf_counter()
    for n, c in enumerate(clips, 1):
        if progress and time.perf_counter() - last > 5:
            last = time.perf_counter()
            progress(f"decoding: {n}/{len(clips)} clips")
        try:
            x = audio_io.load(c.path, allow_silent=getattr(c, "silent_ok", False))
        except audio_io.AudioError as e:
            skipped.append({"path": e.path, "reason": e.reason})
            continue
        for s in window_starts(len(x), window):
            xs.append(audio_io.fit_length(x if s is None else x[s:s + window], window))
            owner.append(len(ys))
        ys.append(c.label)
        paths.append(c.path)
    w = np.stack(xs) if xs else np.zeros((0, window), np.float32)
    return w, np.asarray(owner, np.int64), np.asarray(ys, np.int64), paths, skipped


def window_keys(cache, ident, paths, owner, window):
    """One cache key per window: model identity + clip identity + window index and count."""
    counts = np.bincount(owner, minlength=len(paths))
    keys, seen = [], {}
    for o in owner:
        i = seen[o] = seen.get(o, -1) + 1
        keys.append(cache.key(ident, paths[o], {"clip_samples": int(window), "sample_rate": audio_io.SAMPLE_RATE,
                                                "window": i, "windows": int(counts[o])}))
    return keys


def pool(features, owner, n):
    """Mean of the window features of each clip: [m, d] → [n, d]."""
    out = np.zeros((n, features.shape[1]), np.float64)
    np.add.at(out, owner, features)
    return (out / np.bincount(owner, minlength=n)[:, None]).astype(np.float32)


def log_mel_stats(audio, batch_size=64):
    """Baseline features: mean and standard deviation over time of each log-mel band."""
    import tensorflow as tf
    from models.frontend import log_mel
    out = []
    for s in range(0, len(audio), batch_size):
        lm = log_mel(tf.constant(audio[s:s + batch_size], tf.float32))
        mean, var = tf.nn.moments(lm, axes=[1])
        out.append(np.concatenate([mean.numpy(), np.sqrt(var.numpy())], 1))
    return np.concatenate(out) if out else np.zeros((0, 128), np.float32)


def exit_files(model_dir):
    """OUT/exits/exit_K.tflite, ordered by K."""
    files = glob.glob(os.path.join(model_dir, "exits", "exit_*.tflite"))
    files = sorted(files, key=lambda p: int(re.search(r"exit_(\d+)\.tflite$", p).group(1)))
    if not files:
        raise FileNotFoundError(f"{model_dir}: no exits/exit_K.tflite files (is it a run's output folder?)")
    return files


class ExitEmbedder:
    """exits/exit_K.tflite run with LCE's interpreter: audio [b, samples] → exitK_embedding [b, d]."""

    def __init__(self, path, k):
        from export.interpreter import LceModel
        with open(path, "rb") as f:
            self.model = LceModel(f.read())
        self.name = f"exit{k}_embedding"
        if self.name not in self.model.names:
            raise KeyError(f"{path}: outputs {self.model.names}, not '{self.name}'")
        self.samples = int(self.model.interpreter.input_shapes[0][-1])
        self.ident = f"tflite:{sha256(path)}"

    def __call__(self, audio):
        return self.model.predict(np.asarray(audio, np.float32))[self.name]


def teacher_ident(handle, output_key):
    """Cache identity of a teacher: its handle, plus the SavedModel file's identity when local."""
    pb = os.path.join(handle, "saved_model.pb")
    local = datasets.fingerprint(pb) if os.path.isfile(pb) else ""
    return f"{handle}|{local}|{output_key}"


# ---------------------------------------------------------------- the harness

def read_report(model_dir):
    path = os.path.join(model_dir, "report.json")
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def evaluate(model_dir, task_dirs, teacher=None, teacher_output=None, out_dir=None, seed=0,
             batch_size=32, progress=say):
    """Probe accuracy of teacher, every exit and the log-mel baseline on every task; writes the files."""
    from pipeline import teacher as teacher_lib
    from pipeline.cache import EmbeddingCache

    t0 = time.time()
    model_dir = os.path.abspath(model_dir)
    out_dir = os.path.abspath(out_dir or model_dir)
    os.makedirs(out_dir, exist_ok=True)
    report = read_report(model_dir)
    handle = teacher or report.get("teacher", {}).get("handle")
    if not handle:
        raise SystemExit(f"error: no --teacher given and {model_dir}/report.json names none")
    output_key = (teacher_output or report.get("teacher", {}).get("output")
                  or report.get("settings", {}).get("teacher_output") or "embedding")
    exits = [ExitEmbedder(p, k) for k, p in enumerate(exit_files(model_dir), 1)]
    window = exits[0].samples
    clip_seconds = report.get("settings", {}).get("clip_seconds")
    if clip_seconds and int(round(clip_seconds * audio_io.SAMPLE_RATE)) != window:
        progress(f"note: report.json says {clip_seconds} s clips; the exit models take {window} samples")
    try:
        t = teacher_lib.load(handle, output_key)
    except teacher_lib.TeacherUnavailable as e:
        raise SystemExit(f"error: {e}")
    t_ident = teacher_ident(t.handle, output_key)
    cache_t = EmbeddingCache(os.path.join(out_dir, CACHE, "teacher"))
    cache_s = EmbeddingCache(os.path.join(out_dir, CACHE, "student"))
    progress(f"teacher {t.handle} (output '{output_key}'); {len(exits)} exits from {model_dir}/exits, "
             f"{window} samples ({window / audio_io.SAMPLE_RATE:g} s) per window")

    tasks = {}
    for task_dir in task_dirs:
        name = os.path.basename(os.path.normpath(task_dir))
        ds = datasets.scan(task_dir, seed=seed)
        feats, data = {}, {}
        for split in ("train", "test"):
            # a listed validation split (Speech Commands) is training data here: the probe holds out its own
            w, owner, y, paths, skipped = load_windows(
                ds.split(split) + (ds.split("validation") if split == "train" else []), window,
                progress=lambda m: progress(f"{name}/{split} {m}"))
            data[split] = (y, skipped, len(w))
            progress(f"{name}/{split}: {len(y)} clips, {len(w)} windows, {len(skipped)} files skipped")
            if not len(y):
                feats[split] = None
                continue

            def tag(who):
                return lambda m: progress(f"{name}/{split} {who}: " + m.split(": ", 1)[-1])

            f = {"teacher": teacher_lib.embed(t, w, window_keys(cache_t, t_ident, paths, owner, window),
                                              cache_t, batch_size, progress=tag("teacher"))[0]}
            for k, e in enumerate(exits, 1):
                f[f"exit{k}"] = teacher_lib.embed(e, w, window_keys(cache_s, e.ident, paths, owner, window),
                                                  cache_s, batch_size, progress=tag(f"exit {k}"))[0]
            f["baseline"] = log_mel_stats(w)
            feats[split] = {k: pool(v, owner, len(y)) for k, v in f.items()}
        if feats["train"] is None or feats["test"] is None:
            progress(f"{name}: skipped (no usable train or test clips)")
            continue
        y_tr, y_te = data["train"][0], data["test"][0]
        res = {k: probe(feats["train"][k], y_tr, feats["test"][k], y_te, seed=seed) for k in feats["train"]}
        ex = [res[f"exit{k}"]["accuracy"] for k in range(1, len(exits) + 1)]
        tasks[name] = {
            "teacher": res["teacher"]["accuracy"], "exits": ex, "baseline": res["baseline"]["accuracy"],
            "exit_over_teacher": [a / res["teacher"]["accuracy"] if res["teacher"]["accuracy"] else None for a in ex],
            "C": {k: v["C"] for k, v in res.items()},
            "val_accuracy": {k: v["val_accuracy"] for k, v in res.items()},
            "labels": ds.labels, "root": os.path.abspath(task_dir),
            "train_clips": int(len(y_tr)), "test_clips": int(len(y_te)),
            "windows": data["train"][2] + data["test"][2],
            "skipped": data["train"][1] + data["test"][1],
        }
        progress(f"{name}: teacher {tasks[name]['teacher']:.3f}, exits "
                 f"{', '.join(f'{a:.3f}' for a in ex)}, log-mel baseline {tasks[name]['baseline']:.3f}")
    r = {
        "model": model_dir,
        "teacher": {"handle": t.handle, "output": output_key,
                    "stand_in": bool(report.get("teacher", {}).get("stand_in", False))
                    and t.handle == report.get("teacher", {}).get("handle")},
        "exits": [os.path.relpath(p, model_dir) for p in exit_files(model_dir)],
        "window_samples": window,
        "windowing": "evenly spaced windows of the exit models' input length, representation = mean over windows",
        "probe": {"model": "StandardScaler + LogisticRegression (L2, lbfgs)", "C_grid": list(C_GRID),
                  "val_fraction": VAL_FRACTION, "seed": seed},
        "tasks": tasks,
        "seconds": round(time.time() - t0, 1),
    }
    r["files"] = write(out_dir, r)
    progress(f"done in {r['seconds']:.0f} s: " + ", ".join(r["files"]))
    return r


def summary(r):
    """The figures report.json keeps of an evaluation."""
    return {"teacher": r["teacher"]["handle"], "files": r["files"],
            "tasks": {n: {k: v[k] for k in ("teacher", "exits", "baseline")} for n, v in r["tasks"].items()}}


# ---------------------------------------------------------------- outputs

def _f(v):
    return "n/a" if v is None else f"{v:.3f}"


def markdown(r):
    n = len(r["exits"])
    head = (["task", "classes", "test clips", "teacher"] + [f"exit {k}" for k in range(1, n + 1)]
            + ["log-mel baseline"] + [f"exit {k} / teacher" for k in range(1, n + 1)])
    lines = ["# Representation evaluation (linear probe, test accuracy)", "",
             f"- model: `{r['model']}` (exits run from the LCE .tflite files with LCE's interpreter)",
             f"- teacher: `{r['teacher']['handle']}`" + (" (stand-in, not TRILLsson)" if r["teacher"]["stand_in"] else ""),
             f"- window: {r['window_samples']} samples; {r['windowing']}",
             f"- probe: {r['probe']['model']}, C from {r['probe']['C_grid']} on a seeded "
             f"{r['probe']['val_fraction']:.0%} split of train, refit on all of train", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, t in r["tasks"].items():
        cells = [name, str(len(t["labels"])), str(t["test_clips"]), _f(t["teacher"])] + [_f(a) for a in t["exits"]]
        cells += [_f(t["baseline"])] + [_f(x) for x in t["exit_over_teacher"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(r, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(r["tasks"])
    series = [("teacher", [r["tasks"][t]["teacher"] for t in names])]
    series += [(f"exit {k}", [r["tasks"][t]["exits"][k - 1] for t in names]) for k in range(1, len(r["exits"]) + 1)]
    series += [("log-mel baseline", [r["tasks"][t]["baseline"] for t in names])]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(names) + 2), 4))
    for i, (label, vals) in enumerate(series):
        ax.bar(np.arange(len(names)) + (i - (len(series) - 1) / 2) * width,
               [v or 0.0 for v in vals], width, label=label)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylim(0, 1)
    ax.set_ylabel("linear-probe test accuracy")
    ax.set_title("Teacher vs student exits vs log-mel baseline")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def write(out_dir, r):
    paths = [os.path.join(out_dir, n) for n in ("eval.json", "eval.md", "eval.png")]
    with open(paths[0], "w") as f:
        json.dump({**r, "files": paths}, f, indent=2)
    with open(paths[1], "w") as f:
        f.write(markdown(r))
    plot(r, paths[2])
    return paths


# ---------------------------------------------------------------- command line

def parser():
    p = argparse.ArgumentParser(prog="python -m pipeline.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="a run's output folder (exits/exit_K.tflite, report.json)")
    p.add_argument("--tasks", required=True, action="append", metavar="DIR",
                   help="task folder (DIR/<label>/… or DIR/train|test/<label>/…); repeat for more tasks")
    p.add_argument("--teacher", help="teacher handle (default: teacher.handle of MODEL/report.json)")
    p.add_argument("--teacher-output", help="teacher output key (default: the run's, else 'embedding')")
    p.add_argument("--out", help="output folder (default: the model folder)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None):
    a = parser().parse_args(argv)
    return evaluate(a.model, a.tasks, teacher=a.teacher, teacher_output=a.teacher_output, out_dir=a.out,
                    seed=a.seed)


if __name__ == "__main__":
    main()
