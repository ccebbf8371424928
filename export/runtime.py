"""Early-exit runtime: run the staged segments, stop at the first confident exit.

    python -m export.runtime OUT CLIP.wav [--threshold 0.3]

```python
from export.runtime import EarlyExitRuntime
rt = EarlyExitRuntime("OUT", threshold=0.3)        # threshold default: OUT/thresholds.json
r = rt.classify(audio)       # {"label", "probability", "probabilities", "exit", "entropies", "latency_ms"}
```
The stop rule (shared with the Android app, checked on shared test vectors): after stage k,
compute the normalized entropy H(p)/ln(C) of exit k's softmax; stop if it is at or below
the threshold; the last exit always answers.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

from export.interpreter import LceModel


def normalized_entropy(p):
    """H(p)/ln(C) in double precision, summed in index order (as the Java app does)."""
    p = np.asarray(p, np.float64).ravel()
    if len(p) <= 1:
        return 0.0
    h = 0.0
    for v in p:
        if v > 0:
            h -= v * math.log(v)
    return h / math.log(len(p))


def should_stop(probs, k, num_exits, threshold):
    """k is 1-based. True if exit k answers."""
    return k == num_exits or normalized_entropy(probs) <= threshold


def decide(per_exit_probs, threshold):
    """The decision the runtime makes, given every exit's probabilities (1-based exit)."""
    entropies = []
    n = len(per_exit_probs)
    for k, p in enumerate(per_exit_probs, 1):
        entropies.append(normalized_entropy(p))
        if k == n or entropies[-1] <= threshold:
            p = np.asarray(p).ravel()
            label = int(np.argmax(p))  # ties → lowest index
            return {"exit": k, "label": label, "probability": float(p[label]), "entropies": entropies}


def load_thresholds(out_dir):
    with open(os.path.join(out_dir, "thresholds.json")) as f:
        t = json.load(f)
    return t["targets"][t["default"]]["threshold"]


class EarlyExitRuntime:
    def __init__(self, out_dir, threshold=None, stages_dir="stages", num_threads=1):
        self.out_dir = out_dir
        folder = os.path.join(out_dir, stages_dir)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{folder}: no staged segments (export them with pipeline/run.py)")
        names = sorted((f for f in os.listdir(folder) if f.startswith("stage_") and f.endswith(".tflite")),
                       key=lambda f: int(f[6:-7]))
        self.stages = []
        for f in names:
            with open(os.path.join(folder, f), "rb") as fh:
                self.stages.append(LceModel(fh.read(), num_threads=num_threads))
        labels = os.path.join(out_dir, "labels.txt")
        self.labels = open(labels).read().split("\n") if os.path.exists(labels) else None
        if self.labels:
            self.labels = [lab for lab in self.labels if lab]
        self.threshold = load_thresholds(out_dir) if threshold is None else float(threshold)

    def classify(self, audio):
        """audio: float32 [samples] (the model's clip length)."""
        x = np.asarray(audio, np.float32)[None, :]
        n = len(self.stages)
        entropies = []
        t0 = time.perf_counter()
        for k, stage in enumerate(self.stages, 1):
            outs = dict(zip(stage.names, stage.run(x)))
            probs = outs[f"exit{k}_probs"][0]
            entropies.append(normalized_entropy(probs))
            if should_stop(probs, k, n, self.threshold):
                break
            x = outs["activation"]
        ms = (time.perf_counter() - t0) * 1e3
        label = int(np.argmax(probs))
        return {"label": self.labels[label] if self.labels else label, "label_index": label,
                "probability": float(probs[label]), "probabilities": probs.tolist(), "exit": k,
                "entropies": entropies, "latency_ms": ms, "threshold": self.threshold}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m export.runtime", description=__doc__.split("\n")[0])
    ap.add_argument("out", help="a run's output folder (stages/, labels.txt, thresholds.json)")
    ap.add_argument("clip", help="audio file (any format the pipeline reads)")
    ap.add_argument("--threshold", type=float, help="entropy threshold (default: thresholds.json)")
    a = ap.parse_args(argv)
    from pipeline import audio as audio_io
    rt = EarlyExitRuntime(a.out, a.threshold)
    n = rt.stages[0].interpreter.input_shapes[0][-1]
    try:
        x = audio_io.fit_length(audio_io.load(a.clip), n)
    except audio_io.AudioError as e:
        sys.exit(f"error: {e}")
    r = rt.classify(x)
    print(f"label: {r['label']}  probability: {r['probability']:.3f}  exit: {r['exit']}/{len(rt.stages)}  "
          f"latency: {r['latency_ms']:.2f} ms  threshold: {r['threshold']:.3f}  "
          f"entropies: {', '.join(f'{h:.3f}' for h in r['entropies'])}")
    return r


if __name__ == "__main__":
    main()
