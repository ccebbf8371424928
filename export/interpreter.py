"""Run and time flatbuffers with LCE's interpreter (the real binary kernels).

```python
from export.interpreter import LceModel
m = LceModel(open("exits/exit_1.tflite", "rb").read())
outs = m.predict(audio)                    # {"exit1_probs": [n, C], ...}
ms = m.latency_ms(audio[:1], runs=50)      # median, 1 thread
```
"""

import time

import numpy as np
from larq_compute_engine.tflite.python.interpreter import Interpreter

from export import clips
from export.flatbuffer import output_order


class LceModel:
    def __init__(self, fb, num_threads=1, use_indirect_bgemm=True):
        self.fb = bytes(fb)
        self.names = output_order(self.fb)
        self.interpreter = Interpreter(self.fb, num_threads=num_threads, use_indirect_bgemm=use_indirect_bgemm)

    @property
    def input_length(self):
        """The last dimension of the input: audio samples for a model or exit, activation width for a stage.

        Returns:
            The size as an int.
        """
        return int(self.interpreter.input_shapes[0][-1])

    def run(self, x):
        """One invocation on a batch of one: x [1, ...] → list of outputs.

        Args:
            x: the input, a batch of one (cast to contiguous float32).

        Returns:
            The outputs as arrays, in the interpreter's output order (the names in `names`).
        """
        return self.interpreter.interpreter.predict([np.ascontiguousarray(x, np.float32)])

    def predict(self, x):
        """Inputs (an array, or clips read in batches: `export.clips`), run one at a time → {output name:
        [n, ...]}.

        Args:
            x: the inputs, an array [n, ...] or a split (`export.clips`).

        Returns:
            {output name: [n, ...]}, the outputs of every input concatenated in order.
        """
        outs = [self.run(one) for one in clips.each(x)]
        return {n: np.concatenate([o[j] for o in outs]) for j, n in enumerate(self.names)}

    def latency_ms(self, x, runs=50, warmup=5):
        """Median wall time of one invocation, in milliseconds.

        Args:
            x: inputs [n, ...]; only the first is run.
            runs: timed invocations.
            warmup: untimed invocations first.

        Returns:
            The median in ms (a float).
        """
        x = np.ascontiguousarray(x[:1], np.float32)
        return median_ms(lambda: self.run(x), runs, warmup)


def median_ms(fn, runs=50, warmup=5):
    """Median wall time of `fn()` over `runs` calls after `warmup` calls, in milliseconds.

    Args:
        fn: a function of no arguments.
        runs: timed calls.
        warmup: untimed calls first.

    Returns:
        The median in ms (a float).
    """
    return round_robin_ms({"fn": fn}, runs, warmup)["fn"]


def round_robin_ms(fns, runs=50, warmup=5):
    """Median wall time of each of `fns` ({name: fn}), in milliseconds, timed round-robin: one call of
    each in turn, `runs` rounds after `warmup` rounds, so a burst of load on the machine hits all alike
    and their ratios are measured side by side.

    Args:
        fns: {name: function of no arguments}.
        runs: timed rounds.
        warmup: untimed rounds first.

    Returns:
        {name: median wall time in ms}.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t) * 1e3) for name, t in times.items()}
