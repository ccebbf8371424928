"""Representation evaluation, NOSS style: a linear probe on frozen embeddings, per task.

    brillsson evaluate OUT --tasks DIR [--tasks DIR ...] [--teacher HANDLE]
                       [--teacher-output KEY] [--out DIR]

For every task folder (the `--data` layout, read with `pipeline.datasets.scan`) it measures
test accuracy of the same linear probe on

- the teacher's embedding (default: `teacher.handle` of OUT/report.json),
- every student exit's embedding, run from the shipped embedding model OUT/embedding.tflite
  with LCE's interpreter (what ships is what is measured; outputs `exitK_embedding`),
- a baseline: mean and standard deviation of each log-mel band,
- and, after a `--float-twin` run, every exit of the float twin (OUT/float_twin/embedding.tflite),
  with the binarization gap (twin minus binary) per exit.

The embedding model takes a fixed number of samples (its input shape). A clip is cut into
evenly spaced windows of that length (one window, centre-cropped or zero-padded, for a clip of
under 1.5 windows; duration / window rounded half up otherwise) and every representation
(teacher, exits, baseline) is the mean over the windows of a clip, so all see the same audio.

The probe is `pipeline.probe` (standardised features, L2 logistic regression, C picked by
seeded stratified folds of the training clips). Embeddings are cached in OUT/eval_cache (teacher: its
identity, the same as the run's teacher cache uses, + clip identity; exits: the .tflite
file's SHA-256, the exit + clip identity), so a rerun embeds nothing. Writes eval.json, eval.md and
eval.png to --out (default: the model folder).

```python
from pipeline import evaluate
res = evaluate.evaluate("OUT", ["data/keywords", "data/speaker"])
res["tasks"]["speaker"]["exits"][-1] / res["tasks"]["speaker"]["teacher"]
```
"""

import json
import logging
import os
import time

import numpy as np

from export import manifest
from export.files import atomic_write, sha256
from export.interpreter import LceModel
from export.layout import Layout
from models.frontend import SAMPLE_RATE
from models.students import EMBEDDING, output_name, parse_output_name
from pipeline import audio as audio_io
from pipeline import datasets, probe as probe_lib
from pipeline import report as report_lib
from pipeline import teacher as teacher_lib
from pipeline.cache import EmbeddingCache
from pipeline.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# The seed a run's own evaluation and learning curves probe with, whatever its --seed: runs of
# different seeds are probed on the same clips with the same folds, and `brillsson evaluate` (seed 0
# unless told) gives the figures the run gave.
PROBE_SEED = 0


def _progress(msg):
    log.info(msg)


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
            xs.append(audio_io.fit_length(x if s is None else x[s : s + window], window))
            owner.append(len(ys))
        ys.append(c.label)
        paths.append(c.path)
    w = np.stack(xs) if xs else np.zeros((0, window), np.float32)
    return w, np.asarray(owner, np.int64), np.asarray(ys, np.int64), paths, skipped


def probe_splits(task_dir, seed=0):
    """(task name, its `datasets` scan, {"train": clips, "test": clips}) of a task folder. A listed
    validation split (Speech Commands) is training data here: the probe holds out its own."""
    try:
        ds = datasets.scan(task_dir, seed=seed)
    except (FileNotFoundError, ValueError) as e:
        raise DataError(str(e)) from None
    return (
        os.path.basename(os.path.normpath(task_dir)),
        ds,
        {"train": ds.split("train") + ds.split("validation"), "test": ds.split("test")},
    )


def window_keys(cache, ident, paths, owner, window):
    """One cache key per window: model identity + clip identity + window index and count."""
    counts = np.bincount(owner, minlength=len(paths))
    keys, seen = [], {}
    for o in owner:
        i = seen[o] = seen.get(o, -1) + 1
        keys.append(
            cache.key(
                ident,
                paths[o],
                {"clip_samples": int(window), "sample_rate": SAMPLE_RATE, "window": i, "windows": int(counts[o])},
            )
        )
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
        lm = log_mel(tf.constant(audio[s : s + batch_size], tf.float32))
        mean, var = tf.nn.moments(lm, axes=[1])
        out.append(np.concatenate([mean.numpy(), np.sqrt(var.numpy())], 1))
    return np.concatenate(out) if out else np.zeros((0, 128), np.float32)


class EmbeddingModel:
    """OUT/embedding.tflite run with LCE's interpreter: audio [b, samples] → {exitK_embedding: [b, d]}.

    ```python
    model = EmbeddingModel("OUT/embedding.tflite")
    exit3 = model.exit(3)            # a callable audio → exit3_embedding, with its cache identity `.ident`
    ```
    """

    def __init__(self, path):
        with open(path, "rb") as f:
            self.model = LceModel(f.read())
        self.path = str(path)
        self.exits = sorted(
            k for k, kind in filter(None, map(parse_output_name, self.model.names)) if kind == EMBEDDING
        )
        if not self.exits:
            raise DataError(f"{path}: outputs {self.model.names}, no exitK_embedding")
        self.samples = self.model.input_length
        self.sha = sha256(path)
        self._last = (None, None)

    def embed(self, audio):
        """Every exit's embedding of a batch (the last batch's are kept: each exit asks for the same one)."""
        if self._last[0] is not audio:
            self._last = (audio, self.model.predict(np.asarray(audio, np.float32)))
        return self._last[1]

    def exit(self, k):
        return ExitEmbedder(self, k)


class ExitEmbedder:
    """Exit k's embedding from an `EmbeddingModel`: audio [b, samples] → exitK_embedding [b, d]."""

    def __init__(self, model, k):
        self.model, self.name = model, output_name(k, EMBEDDING)
        if self.name not in model.model.names:
            raise DataError(f"{model.path}: outputs {model.model.names}, not '{self.name}'")
        self.samples = model.samples
        self.ident = f"tflite:{model.sha}:{self.name}"

    def __call__(self, audio):
        return self.model.embed(audio)[self.name]


# ---------------------------------------------------------------- the harness


def evaluate(
    model_dir, task_dirs, teacher=None, teacher_output=None, out_dir=None, seed=0, batch_size=32, stand_in=None
):
    """Probe accuracy of teacher, every exit and the log-mel baseline on every task; writes the files.

    `teacher`, `teacher_output` and `stand_in` default to what MODEL/report.json says of the run's teacher.
    """
    t0 = time.time()
    layout = Layout(model_dir)
    out = Layout(out_dir or model_dir)
    manifest.verify(layout, needed=[Layout.EMBEDDING])  # never probe a mixed or unfinished export
    report = report_lib.read(layout)
    handle = teacher or report.get("teacher", {}).get("handle")
    if not handle:
        raise ConfigError(f"no --teacher given and {layout.report_json} names none")
    output_key = (
        teacher_output
        or report.get("teacher", {}).get("output")
        or report.get("settings", {}).get("teacher_output")
        or "embedding"
    )
    embedding = EmbeddingModel(layout.require(layout.embedding))
    exits = [embedding.exit(k) for k in embedding.exits]
    twin_exits = []  # a --float-twin run's twin, probed beside the binary exits: what binarization costs
    if os.path.exists(layout.float_twin_embedding):
        manifest.verify(layout, needed=[os.path.join(Layout.FLOAT_TWIN, "embedding.tflite")])
        twin = EmbeddingModel(layout.float_twin_embedding)
        twin_exits = [twin.exit(k) for k in twin.exits]
    window = embedding.samples
    clip_seconds = report.get("settings", {}).get("clip_seconds")
    if clip_seconds and int(round(clip_seconds * SAMPLE_RATE)) != window:
        log.info(f"note: report.json says {clip_seconds} s clips; the embedding model takes {window} samples")
    for task_dir in task_dirs:  # before any slow work
        if not os.path.isdir(task_dir):
            raise DataError(f"{task_dir}: task folder does not exist")
    t = teacher_lib.load(handle, output_key)
    t_ident = f"{t.identity}|{output_key}"
    cache_t = EmbeddingCache(os.path.join(out.eval_cache, "teacher"))
    cache_s = EmbeddingCache(os.path.join(out.eval_cache, "student"))
    log.info(
        f"teacher {t.handle} (output '{output_key}'); {len(exits)} exits from {layout.embedding}, "
        f"{window} samples ({window / SAMPLE_RATE:g} s) per window"
    )

    tasks = {}
    for task_dir in task_dirs:
        name, ds, clips = probe_splits(task_dir, seed)
        feats, data = {}, {}
        for split in ("train", "test"):
            w, owner, y, paths, skipped = load_windows(
                clips[split], window, progress=lambda m: _progress(f"{name}/{split} {m}")
            )
            data[split] = (y, skipped, len(w))
            log.info(f"{name}/{split}: {len(y)} clips, {len(w)} windows, {len(skipped)} files skipped")
            if not len(y):
                feats[split] = None
                continue

            def tag(who):
                return lambda m: _progress(f"{name}/{split} {who}: " + m.split(": ", 1)[-1])

            f = {
                "teacher": teacher_lib.embed(
                    t,
                    w,
                    window_keys(cache_t, t_ident, paths, owner, window),
                    cache_t,
                    batch_size,
                    progress=tag("teacher"),
                )[0]
            }
            for k, e in enumerate(exits, 1):
                f[f"exit{k}"] = teacher_lib.embed(
                    e,
                    w,
                    window_keys(cache_s, e.ident, paths, owner, window),
                    cache_s,
                    batch_size,
                    progress=tag(f"exit {k}"),
                )[0]
            for k, e in enumerate(twin_exits, 1):
                f[f"twin{k}"] = teacher_lib.embed(
                    e,
                    w,
                    window_keys(cache_s, e.ident, paths, owner, window),
                    cache_s,
                    batch_size,
                    progress=tag(f"float twin exit {k}"),
                )[0]
            f["baseline"] = log_mel_stats(w)
            feats[split] = {k: pool(v, owner, len(y)) for k, v in f.items()}
        if feats["train"] is None or feats["test"] is None:
            log.warning(f"{name}: skipped (no usable train or test clips)")
            continue
        y_tr, y_te = data["train"][0], data["test"][0]
        res = {k: probe_lib.probe(feats["train"][k], y_tr, feats["test"][k], y_te, seed=seed) for k in feats["train"]}
        ex = [res[f"exit{k}"]["accuracy"] for k in range(1, len(exits) + 1)]
        tasks[name] = {
            "teacher": res["teacher"]["accuracy"],
            "exits": ex,
            "baseline": res["baseline"]["accuracy"],
            "exit_over_teacher": [a / res["teacher"]["accuracy"] if res["teacher"]["accuracy"] else None for a in ex],
            "C": {k: v["C"] for k, v in res.items()},
            "val_accuracy": {k: v["val_accuracy"] for k, v in res.items()},
            "labels": ds.labels,
            "root": os.path.abspath(task_dir),
            "train_clips": int(len(y_tr)),
            "test_clips": int(len(y_te)),
            "windows": data["train"][2] + data["test"][2],
            "skipped": data["train"][1] + data["test"][1],
        }
        if twin_exits:
            tw = [res[f"twin{k}"]["accuracy"] for k in range(1, len(twin_exits) + 1)]
            tasks[name]["twin_exits"] = tw
            tasks[name]["binarization_gap"] = [a - b for a, b in zip(tw, ex)]
        log.info(
            f"{name}: teacher {tasks[name]['teacher']:.3f}, exits "
            f"{', '.join(f'{a:.3f}' for a in ex)}, log-mel baseline {tasks[name]['baseline']:.3f}"
        )
    if stand_in is None:
        stand_in = bool(report.get("teacher", {}).get("stand_in", False)) and t.handle == report.get("teacher", {}).get(
            "handle"
        )
    r = {
        "model": layout.root,
        "teacher": {"handle": t.handle, "output": output_key, "stand_in": bool(stand_in)},
        "embedding_model": layout.relative(embedding.path),
        "exits": [e.name for e in exits],
        "float_twin_model": layout.relative(layout.float_twin_embedding) if twin_exits else None,
        "window_samples": window,
        "windowing": "evenly spaced windows of the exit models' input length, representation = mean over windows",
        "probe": {
            "model": probe_lib.DESCRIPTION,
            "C_grid": list(probe_lib.C_GRID),
            "folds": probe_lib.FOLDS,
            "selection": probe_lib.SELECTION,
            "seed": seed,
        },
        "tasks": tasks,
        "seconds": round(time.time() - t0, 1),
    }
    r["files"] = write(out, r)
    log.info(f"done in {r['seconds']:.0f} s: " + ", ".join(r["files"]))
    return r


def summary(r):
    """The figures report.json keeps of an evaluation."""
    return {
        "teacher": r["teacher"]["handle"],
        "files": r["files"],
        "tasks": {
            n: {k: v[k] for k in ("teacher", "exits", "baseline", "twin_exits", "binarization_gap") if k in v}
            for n, v in r["tasks"].items()
        },
    }


# ---------------------------------------------------------------- outputs


def markdown(r):
    n = len(r["exits"])
    head = (
        ["task", "classes", "test clips", "teacher"]
        + [f"exit {k}" for k in range(1, n + 1)]
        + ["log-mel baseline"]
        + [f"exit {k} / teacher" for k in range(1, n + 1)]
    )
    lines = [
        "# Representation evaluation (linear probe, test accuracy)",
        "",
        f"- model: `{r['model']}` (exits' embeddings run from `embedding.tflite` with LCE's interpreter)",
        f"- teacher: `{r['teacher']['handle']}`" + (" (stand-in, not TRILLsson)" if r["teacher"]["stand_in"] else ""),
        f"- window: {r['window_samples']} samples; {r['windowing']}",
        f"- probe: {r['probe']['model']}, C from {r['probe']['C_grid']}: the "
        f"{r['probe']['selection']}, refit on all of train",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, t in r["tasks"].items():
        cells = [name, str(len(t["labels"])), str(t["test_clips"]), report_lib.fmt_value(t["teacher"])] + [
            report_lib.fmt_value(a) for a in t["exits"]
        ]
        cells += [report_lib.fmt_value(t["baseline"])] + [report_lib.fmt_value(x) for x in t["exit_over_teacher"]]
        lines.append("| " + " | ".join(cells) + " |")
    twins = {name: t for name, t in r["tasks"].items() if "twin_exits" in t}
    if twins:
        head = (
            ["task", "test clips"]
            + [f"twin exit {k}" for k in range(1, n + 1)]
            + [f"gap exit {k} (points)" for k in range(1, n + 1)]
        )
        lines += [
            "",
            "## Float twin: the same network and recipe with full-precision convolutions",
            "",
            f"- model: `{r['float_twin_model']}` (stock TFLite ops); gap = twin minus binary accuracy",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        for name, t in twins.items():
            cells = [name, str(t["test_clips"])] + [report_lib.fmt_value(a) for a in t["twin_exits"]]
            cells += [f"{100 * g:+.1f}" for g in t["binarization_gap"]]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(r, path):
    from matplotlib.figure import Figure  # pyplot-free: no backend is chosen

    names = list(r["tasks"])
    series = [("teacher", [r["tasks"][t]["teacher"] for t in names])]
    series += [(f"exit {k}", [r["tasks"][t]["exits"][k - 1] for t in names]) for k in range(1, len(r["exits"]) + 1)]
    if all("twin_exits" in r["tasks"][t] for t in names):
        series += [
            (f"float twin exit {k}", [r["tasks"][t]["twin_exits"][k - 1] for t in names])
            for k in range(1, len(r["exits"]) + 1)
        ]
    series += [("log-mel baseline", [r["tasks"][t]["baseline"] for t in names])]
    width = 0.8 / len(series)
    fig = Figure(figsize=(max(5.0, 1.6 * len(names) + 2), 4))
    ax = fig.subplots()
    for i, (label, vals) in enumerate(series):
        ax.bar(
            np.arange(len(names)) + (i - (len(series) - 1) / 2) * width, [v or 0.0 for v in vals], width, label=label
        )
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylim(0, 1)
    ax.set_ylabel("linear-probe test accuracy")
    ax.set_title("Teacher vs student exits vs log-mel baseline")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")


def write(layout, r):
    paths = [layout.path(n) for n in ("eval.json", "eval.md", "eval.png")]
    atomic_write(paths[0], json.dumps({**r, "files": paths}, indent=2).encode())
    atomic_write(paths[1], markdown(r).encode())
    plot(r, paths[2])
    return paths


if __name__ == "__main__":  # an earlier version's command
    from models.errors import retired_command

    retired_command("pipeline.evaluate", "evaluate")
