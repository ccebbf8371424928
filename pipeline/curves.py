"""Learning curves: how well each exit's embedding serves held-out tasks as distillation goes on.

    brillsson run --data DIR --unlabeled DIR --teacher T --eval-tasks TASK [TASK ...] [--curve-every 10]

Every `every` distillation epochs (and after the last), a Keras callback embeds the probe tasks'
windows with every exit's embedding (the model in training, in memory; its full-rank heads read out
as `export.convert.embedding_model` reads them, the exits' mean with `ensemble`) and fits the same
linear probe as `pipeline.evaluate` (train split → test split, `pipeline.probe`). Each point is
written to OUT/curves.json as soon as it is measured (atomically; a resumed training keeps the
points of its earlier epochs) and the plot OUT/curves.png is redrawn: probe accuracy against
epochs, one panel per task, one line per exit.

```python
from pipeline import curves
cb = curves.ProbeCurve(["data/language"], every=10, path="OUT/curves.json", tag=key)
distill.distill(model, audio, targets, epochs=80, callbacks=[cb])
cb.points      # [{"epoch": 10, "tasks": {"language": [acc exit 1, exit 2, exit 3]}}, ...]
```
"""

import json
import logging
import os

import numpy as np
import tensorflow as tf

from export import convert
from export.files import atomic_write, read_json
from models.students import EMBEDDING, exit_names
from pipeline import evaluate, probe as probe_lib

log = logging.getLogger(__name__)


class ProbeCurve(tf.keras.callbacks.Callback):
    """Linear-probe accuracy of every exit's embedding on `task_dirs`, every `every` epochs."""

    def __init__(self, task_dirs, every, path, tag="", seed=0, batch_size=64, ensemble=False):
        super().__init__()
        self.ensemble = ensemble  # read exit k as embedding.tflite will: the mean of heads 1..k
        self.task_dirs, self.every, self.path, self.tag = list(task_dirs), int(every), str(path), tag
        self.seed, self.batch_size = seed, batch_size
        self.points, self._data, self._last = [], None, None

    def _load(self, window):
        data = {}
        for task_dir in self.task_dirs:
            name, _, clips = evaluate.probe_splits(task_dir, self.seed)
            splits = {}
            for split in ("train", "test"):
                w, owner, y, _, _ = evaluate.load_windows(clips[split], window)
                splits[split] = (w, owner, y)
            if all(len(s[2]) for s in splits.values()):
                data[name] = splits
            else:
                log.warning(f"curves: {name} skipped (no usable train or test clips)")
        return data

    def on_train_begin(self, logs=None):
        if self._data is None:
            self._data = self._load(int(self.model.inputs[0].shape[1]))
        old = read_json(self.path)
        if isinstance(old, dict) and old.get("tag") == self.tag:  # the same training, resumed: keep its points
            self.points = [p for p in old.get("points", []) if isinstance(p, dict) and "epoch" in p]

    def measure(self, epoch):
        """Probe every exit on every task now; returns {task: [accuracy per exit]}."""
        names = exit_names(self.model, EMBEDDING)
        readout = convert.embedding_model(self.model, None, ensemble=self.ensemble)  # today's weights
        emb = tf.keras.Model(readout.inputs, [readout.get_layer(n).output for n in names])
        result = {}
        for task, splits in self._data.items():
            feats = {}
            for split, (w, owner, y) in splits.items():
                outs = emb.predict(w, batch_size=self.batch_size, verbose=0)
                outs = outs if isinstance(outs, list) else [outs]
                feats[split] = [evaluate.pool(np.asarray(o, np.float32), owner, len(y)) for o in outs]
            (_, _, y_tr), (_, _, y_te) = splits["train"], splits["test"]
            result[task] = [
                round(probe_lib.probe(a, y_tr, b, y_te, seed=self.seed)["accuracy"], 4)
                for a, b in zip(feats["train"], feats["test"])
            ]
        self.points = [p for p in self.points if p["epoch"] != epoch] + [{"epoch": epoch, "tasks": result}]
        self.points.sort(key=lambda p: p["epoch"])
        self._last = epoch
        self.write()
        log.info(
            f"curves: epoch {epoch}: "
            + "; ".join(f"{t} {' / '.join(f'{a:.3f}' for a in accs)}" for t, accs in result.items())
        )
        return result

    def on_epoch_end(self, epoch, logs=None):
        if self.every and (epoch + 1) % self.every == 0:
            self.measure(epoch + 1)

    def on_train_end(self, logs=None):
        last = len(self.model.history.epoch) if getattr(self.model, "history", None) else None
        if last and last != self._last:
            self.measure(last)

    def write(self):
        atomic_write(
            self.path,
            json.dumps(
                {"tag": self.tag, "every": self.every, "ensemble": self.ensemble, "points": self.points}, indent=1
            ).encode(),
        )
        plot(self.points, os.path.splitext(self.path)[0] + ".png")


def plot(points, path, references=None):
    """curves.png: probe accuracy against distillation epochs, a panel per task, a line per exit;
    `references` {task: {"teacher": acc, "log-mel baseline": acc}} as horizontal lines."""
    from matplotlib.figure import Figure  # pyplot-free: no backend is chosen

    if not points:
        return None
    tasks = list(points[-1]["tasks"])
    fig = Figure(figsize=(4.2 * len(tasks), 3.4))
    axes = fig.subplots(1, len(tasks), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        pts = [p for p in points if task in p["tasks"]]
        epochs = [p["epoch"] for p in pts]
        for k in range(len(pts[-1]["tasks"][task])):
            ax.plot(epochs, [p["tasks"][task][k] for p in pts], marker="o", label=f"exit {k + 1}")
        for i, (label, acc) in enumerate(((references or {}).get(task) or {}).items()):
            ax.axhline(acc, color=f"C{7 + i}", linestyle="--", linewidth=1, label=label)
        ax.set_title(task)
        ax.set_xlabel("distillation epoch")
        ax.set_ylabel("linear-probe test accuracy")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
