"""Early-exit runtimes: run the staged segments, stop at the first confident exit.

    brillsson classify OUT CLIP.wav [--threshold 0.3]
    brillsson listen OUT [--wav CLIP.wav] [--every-ms 500]      # live: microphone (or a file) in hops

```python
from export.runtime import EarlyExitRuntime, StreamingRuntime
rt = EarlyExitRuntime("OUT", threshold=0.3)        # threshold default: OUT/thresholds.json
r = rt.classify(audio)       # {"label", "probability", "probabilities", "exit", "entropies", "latency_ms"}
live = StreamingRuntime("OUT", hop_samples=8000)
for start, r in live.push(samples):                # any number of samples at a time
    print(start, r["label"], r["exit"], r["latency_ms"])
```
`StreamingRuntime` computes each log-mel frame once, when its hop of audio has arrived
(`stream/frontend.tflite`), keeps the last window's frames, and every `hop_samples` runs
`stream/stage_1.tflite` on them and the later stages of `stages/` with the same stop rule: its
decisions are those of `EarlyExitRuntime.classify_long` on the same windows.
The stop rule (shared with the Android app, checked on shared test vectors): after stage k,
compute the normalized entropy H(p)/ln(C) of exit k's softmax; stop if it is at or below
the threshold; the last exit always answers.
"""

import collections
import json
import math
import time

import numpy as np

from export import manifest
from export.convert import ACTIVATION
from export.interpreter import LceModel
from export.layout import IncompleteExport, Layout
from export.stream import FrameFrontEnd, read_settings
from models.errors import ConfigError
from models.students import PROBS, output_name


def normalized_entropy(p):
    """H(p)/ln(C) in double precision, summed in index order (as the Java app does).

    Args:
        p: the probabilities of C classes (any array-like; flattened).

    Returns:
        The normalized entropy as a float in [0, 1]; 0.0 for C <= 1.
    """
    p = np.asarray(p, np.float64).ravel()
    if len(p) <= 1:
        return 0.0
    h = 0.0
    for v in p:
        if v > 0:
            h -= v * math.log(v)
    return h / math.log(len(p))


def should_stop(probs, k, num_exits, threshold):
    """k is 1-based. True if exit k answers.

    Args:
        probs: exit k's probabilities.
        k: the exit, 1-based.
        num_exits: the number of exits (the last always answers).
        threshold: the normalized-entropy threshold.

    Returns:
        True when k is the last exit or the normalized entropy of `probs` is at or below `threshold`.
    """
    return k == num_exits or normalized_entropy(probs) <= threshold


def decide(per_exit_probs, threshold):
    """The decision the runtime makes, given every exit's probabilities (1-based exit).

    Args:
        per_exit_probs: one array of class probabilities per exit, in exit order.
        threshold: the normalized-entropy threshold.

    Returns:
        {"exit": k, "label": class index (ties → lowest), "probability": its probability, "entropies": the
        normalized entropies of exits 1..k}; None when `per_exit_probs` is empty.
    """
    entropies = []
    n = len(per_exit_probs)
    for k, p in enumerate(per_exit_probs, 1):
        entropies.append(normalized_entropy(p))
        if k == n or entropies[-1] <= threshold:
            p = np.asarray(p).ravel()
            label = int(np.argmax(p))  # ties → lowest index
            return {"exit": k, "label": label, "probability": float(p[label]), "entropies": entropies}


def load_thresholds(layout):
    """The default target's threshold from OUT/thresholds.json.

    Args:
        layout: the run's output folder, a `Layout` or a path.

    Returns:
        The threshold of the target named by the file's "default".

    Raises:
        IncompleteExport: when the folder has no thresholds.json.
    """
    layout = layout if isinstance(layout, Layout) else Layout(layout)
    with open(layout.require(layout.thresholds)) as f:
        t = json.load(f)
    return t["targets"][t["default"]]["threshold"]


class EarlyExitRuntime:
    """The staged early-exit classifier of a run's output folder.

    The folder is checked against its export manifest first (`export.manifest.verify`): a folder
    left mixed or incomplete by an interrupted export is refused with a message naming the file.
    """

    def __init__(self, out_dir, threshold=None, portable=False, num_threads=1):
        self.layout = out_dir if isinstance(out_dir, Layout) else Layout(out_dir)
        folder = Layout.STAGES_PORTABLE if portable else Layout.STAGES
        manifest.verify(self.layout, needed=[folder] + ([Layout.THRESHOLDS] if threshold is None else []))
        files = self.layout.stage_files(portable)
        if not files:
            self.layout.require(self.layout.stage(1, portable))
        self.stages = []
        for path in files:
            with open(path, "rb") as fh:
                self.stages.append(LceModel(fh.read(), num_threads=num_threads))
        labels = self.layout.labels
        try:
            with open(labels) as f:
                self.labels = [lab for lab in f.read().split("\n") if lab] or None
        except FileNotFoundError:
            self.labels = None
        self.threshold = load_thresholds(self.layout) if threshold is None else float(threshold)
        if not 0.0 <= self.threshold <= 1.0:  # also refuses NaN
            raise ConfigError(f"the entropy threshold is a normalized entropy in [0, 1], got {threshold}")

    @property
    def clip_samples(self):
        """The number of samples stage 1 takes.

        Returns:
            The last dimension of stage 1's input (an int).
        """
        return self.stages[0].input_length

    def classify_long(self, audio, hop=None):
        """Slide the model's window over a clip of any length, `hop` samples apart (default: half a
        window); returns [(start sample, classify result)]. A clip under 1.5 windows is one window,
        centre-cropped or zero-padded (centred), as the training clips were.

        Args:
            audio: float audio [samples] of any length (flattened).
            hop: samples between window starts; None: half a window.

        Returns:
            [(start sample, `classify` result)] in order; the last window ends at the clip's end.
        """
        n = self.clip_samples
        hop = int(hop or n // 2)
        audio = np.asarray(audio, np.float32).ravel()
        if len(audio) < 1.5 * n:
            start = max(0, (len(audio) - n) // 2)
            x = audio[start : start + n]
            pad = n - len(x)
            return [(start, self.classify(np.pad(x, (pad // 2, pad - pad // 2))))]
        starts = list(range(0, len(audio) - n + 1, hop))
        if starts[-1] + n < len(audio):  # the tail gets a window of its own
            starts.append(len(audio) - n)
        return [(s, self.classify(audio[s : s + n])) for s in starts]

    def classify(self, audio):
        """audio: float32 [samples] (the model's clip length).

        Args:
            audio: one clip of `clip_samples` samples.

        Returns:
            The decision of `run_stages`.
        """
        return self.run_stages(np.asarray(audio, np.float32)[None, :])

    def run_stages(self, x, first=None):
        """Stage after stage from input `x` of stage 1 (or of `first`, a replacement for stage 1), until
        an exit is confident; the decision.

        Args:
            x: the input of stage 1 (or of `first`), a batch of one.
            first: an `LceModel` run instead of stage 1 (the streaming stage 1 on log-mel frames); None: stage 1.

        Returns:
            {"label" (its name from labels.txt, else its index), "label_index", "probability", "probabilities",
            "exit" (1-based), "entropies" (exits 1..exit), "latency_ms" (the stages run), "threshold"}.

        Raises:
            IncompleteExport: when a stage other than the last has no activation output (mixed exports).
        """
        n = len(self.stages)
        entropies = []
        t0 = time.perf_counter()
        for k, stage in enumerate(self.stages, 1):
            stage = first if k == 1 and first is not None else stage
            outs = dict(zip(stage.names, stage.run(x)))
            probs = outs[output_name(k, PROBS)][0]
            entropies.append(normalized_entropy(probs))
            if should_stop(probs, k, n, self.threshold):
                break
            if ACTIVATION not in outs:
                raise IncompleteExport(
                    f"{self.layout.stage_files()[k - 1]} has no activation output "
                    f"for stage {k + 1}: the stages folder mixes two exports"
                )
            x = outs[ACTIVATION]
        ms = (time.perf_counter() - t0) * 1e3
        label = int(np.argmax(probs))
        return {
            "label": self.labels[label] if self.labels else label,
            "label_index": label,
            "probability": float(probs[label]),
            "probabilities": probs.tolist(),
            "exit": k,
            "entropies": entropies,
            "latency_ms": ms,
            "threshold": self.threshold,
        }


class StreamingRuntime(EarlyExitRuntime):
    """The early-exit classifier fed audio as it arrives (a microphone, a file in chunks).

    Every `hop_samples` (a multiple of the front end's frame step; default about half a window) it
    decides on the last window, as `classify_long` does for a whole clip.
    """

    def __init__(self, out_dir, threshold=None, hop_samples=None, num_threads=1):
        super().__init__(out_dir, threshold=threshold, num_threads=num_threads)
        manifest.verify(self.layout, needed=[Layout.STREAM])
        self.settings = read_settings(self.layout)
        with open(self.layout.stream_frontend, "rb") as f:
            self.frontend = FrameFrontEnd(f.read(), self.settings["frame_length"], self.settings["frame_step"])
        with open(self.layout.stream_stage1, "rb") as f:
            self.first = LceModel(f.read(), num_threads=num_threads)
        step, window = self.settings["frame_step"], self.settings["frames"]
        hop = int(hop_samples or self.clip_samples // 2 // step * step)
        if hop < step or hop % step:
            raise ConfigError(f"the hop must be a whole number of front-end frames ({step} samples each), got {hop}")
        self.hop_frames = hop // step
        self.hop_samples = hop
        self.frames = collections.deque(maxlen=window)
        self.pending = np.zeros(0, np.float32)
        self.frames_seen = 0

    def push(self, samples):
        """Feed audio (float32, any length); returns [(window start sample, decision)] for every window
        completed by these samples. A decision's `latency_ms` covers the stages; `frontend_ms` the one
        front-end call on the frames that arrived since the previous decision.

        Args:
            samples: the next audio samples (float, any length, flattened); they are buffered until a
                window or hop is complete.

        Returns:
            [(window start sample, `run_stages` decision with "frontend_ms" added)], possibly empty.
        """
        s = self.settings
        self.pending = np.concatenate([self.pending, np.asarray(samples, np.float32).ravel()])
        decisions = []
        while True:
            new = s["frames"] if self.frames_seen == 0 else self.hop_frames  # a whole window first
            need = self.frontend.block_samples(new)
            if len(self.pending) < need:
                return decisions
            t0 = time.perf_counter()
            self.frames.extend(self.frontend.frames(self.pending[:need]))
            frontend_ms = (time.perf_counter() - t0) * 1e3
            self.pending = self.pending[new * s["frame_step"] :]
            self.frames_seen += new
            r = self.run_stages(np.stack(self.frames)[None], first=self.first)
            r["frontend_ms"] = frontend_ms
            decisions.append(((self.frames_seen - s["frames"]) * s["frame_step"], r))


if __name__ == "__main__":  # an earlier version's command
    from models.errors import retired_command

    retired_command("export.runtime", "classify")
