"""Every front end side by side: each `models.frontend.FRONTENDS` kind at each window, converted alone
(audio in, log-mel frames out), timed round-robin in one process with LCE's interpreter and with stock
TFLite (XNNPACK), 1 thread, beside its MACs and its Raspberry Pi 4 estimate (`export.estimate`).

    brillsson frontend-benchmark [--seconds 1] [--windows 25,16] [--mel-bins 40] [--runs 200] [--out FIGURES.json]

```python
from pipeline.tools import frontend_benchmark
rows = frontend_benchmark.measure(windows_ms=(25, 16), runs=100)
```
"""

import argparse
import json

import numpy as np
import tensorflow as tf

from export import convert, estimate, flatbuffer
from export.benchmark import float_runner
from export.files import atomic_write
from export.interpreter import LceModel, round_robin_ms
from models.frontend import FRONTENDS, SAMPLE_RATE, LogMel, framing
from pipeline import usage


def settings(kind, window_ms, num_mel_bins=40, hop_ms=10.0):
    """LogMel settings of a front end at a window (the FFT: the next power of two), as a run builds them."""
    return {"kind": kind, **framing(window_ms, hop_ms), "num_mel_bins": num_mel_bins}


def measure(windows_ms=(25.0, 16.0), kinds=None, seconds=1.0, num_mel_bins=40, runs=200, seed=0):
    """One row per (kind, window): MACs, ms with LCE and stock TFLite here, the Pi 4 estimate, and the
    largest difference of its log-mel frames from the "stft" front end's at the same window."""
    samples = int(round(seconds * SAMPLE_RATE))
    x = np.random.default_rng(seed).uniform(-0.3, 0.3, (1, samples)).astype(np.float32)
    rows, fns, reference = [], {}, {}
    for window in windows_ms:
        for kind in kinds or sorted(FRONTENDS):
            s = settings(kind, window, num_mel_bins)
            audio = tf.keras.Input((samples,))
            model = tf.keras.Model(audio, LogMel(**s)(audio))
            lce_fb, stock_fb = convert.to_lce(model), convert.to_portable(model)
            lce = LceModel(lce_fb)
            name = f"{kind}@{window:g}ms"
            fns[name + "/lce"] = lambda m=lce: m.run(x)
            fns[name + "/stock"] = float_runner(stock_fb, x)
            frames = model(x).numpy()
            if kind == "stft":
                reference[window] = frames
            info = flatbuffer.inspect(lce_fb)
            rows.append(
                {
                    "front_end": kind,
                    "window_ms": window,
                    "frame_length": s["frame_length"],
                    "fft_length": s["fft_length"],
                    "macs": info["total_macs"],
                    "ops": info["op_counts"],
                    "pi4_estimate_ms": estimate.estimate(lce_fb)["ms"],
                    "frames": frames,
                    "name": name,
                }
            )
    ms = round_robin_ms(fns, runs=runs, warmup=max(5, runs // 10))
    for r in rows:
        frames = r.pop("frames")
        ref = reference.get(r["window_ms"])
        r["max_abs_diff_from_stft"] = float(np.abs(frames - ref).max()) if ref is not None else None
        r["lce_ms"], r["stock_ms"] = ms[r["name"] + "/lce"], ms[r["name"] + "/stock"]
    return rows


def markdown(rows) -> str:
    lines = [
        "| front end | window / FFT | MACs | LCE here (ms) | stock TFLite here (ms) | Pi 4 estimate (ms) | "
        "differs from stft by | ops |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        diff = "—" if r["max_abs_diff_from_stft"] is None else f"{r['max_abs_diff_from_stft']:.1e}"
        lines.append(
            f"| {r['front_end']} | {r['frame_length']} / {r['fft_length']} | {r['macs'] / 1e6:.2f} M | "
            f"{r['lce_ms']:.3f} | {r['stock_ms']:.3f} | {r['pi4_estimate_ms']:.3f} | {diff} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(r["ops"].items()))
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None, prog="brillsson frontend-benchmark"):
    p = argparse.ArgumentParser(prog=prog, description=usage.summary(__doc__))
    p.add_argument("--seconds", type=float, default=1.0, help="clip length (default: 1)")
    p.add_argument("--windows", default="25,16", help="windows in ms, comma-separated (default: 25,16)")
    p.add_argument("--mel-bins", type=int, default=40, help="bands (default: 40)")
    p.add_argument("--runs", type=int, default=200, help="timed rounds (default: 200)")
    p.add_argument("--out", help="also write the figures as JSON (and a .md beside it)")
    p.add_argument("--quiet", action="store_true", help="no table on stdout (with --out, the files hold it)")
    a = p.parse_args(argv)
    rows = measure(
        tuple(float(w) for w in a.windows.split(",")), seconds=a.seconds, num_mel_bins=a.mel_bins, runs=a.runs
    )
    text = markdown(rows)
    if a.out:
        atomic_write(a.out, json.dumps(rows, indent=1).encode())
        atomic_write(a.out.rsplit(".", 1)[0] + ".md", text.encode())
    if not a.quiet:
        print(text, end="")
    return rows


if __name__ == "__main__":
    main()
