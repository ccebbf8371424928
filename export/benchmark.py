"""Benchmarks of an exported run: LCE interpreter here, `lce_benchmark_model` on a device.

    python -m export.benchmark OUT [--runs 50]                       # every exit and stage, here
    python -m export.benchmark OUT --lce-benchmark PATH [--ssh USER@HOST] [--device NAME]
    python -m export.benchmark OUT --parse pi_output.txt --device "Raspberry Pi 4"

```python
from export import benchmark
figs = benchmark.measure(out_dir, clips)          # exits, stages, float reference, ratios
benchmark.parse_lce_benchmark(text)               # one run of (lce_)benchmark_model
```
LCE interpreter figures: 1 thread, warm-up, median of `runs` single-clip invocations. The
float reference is the same network converted with TensorFlow's stock converter (binary
convs as float convs) on stock TFLite with XNNPACK, 1 thread, timed in the same process.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np

from export.interpreter import LceModel, median_ms


def _cosine(a, b):
    a = a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-12)
    b = b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-12)
    return float(np.mean(np.sum(a * b, axis=1)))


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def float_latency_ms(fb, x, runs=50, warmup=5):
    """Stock TFLite interpreter (XNNPACK delegate on by default for float graphs), 1 thread."""
    import pipeline  # noqa: F401
    import tensorflow as tf
    it = tf.lite.Interpreter(model_content=fb, num_threads=1)
    inp = it.get_input_details()[0]
    if list(inp["shape"]) != list(x[:1].shape):
        it.resize_tensor_input(inp["index"], x[:1].shape)
    it.allocate_tensors()
    x1 = np.ascontiguousarray(x[:1], np.float32)

    def once():
        it.set_tensor(inp["index"], x1)
        it.invoke()
    return median_ms(once, runs, warmup)


def measure_exits(exit_files, audio, labels, teacher_embeddings=None, runs=50, root=None, progress=print):
    """For each exits/exit_K.tflite: bytes, median LCE latency (1 thread), accuracy, cosine to teacher.

    Also returns every exit's probabilities on `audio` under the key "probs" (not for the report).
    """
    results = []
    for k, path in enumerate(exit_files, 1):
        fb = _read(path)
        m = LceModel(fb)
        outs = m.predict(audio)
        probs, emb = outs[f"exit{k}_probs"], outs[f"exit{k}_embedding"]
        results.append({
            "index": k,
            "path": os.path.relpath(path, root) if root else path,
            "bytes": len(fb),
            "latency_ms": m.latency_ms(audio[:1], runs=runs),
            "accuracy": float(np.mean(np.argmax(probs, 1) == labels)) if len(labels) else None,
            "embedding_cosine": _cosine(emb, teacher_embeddings) if teacher_embeddings is not None else None,
            "probs": probs,
        })
        progress(f"exit {k}: {results[-1]['latency_ms']:.2f} ms, accuracy {results[-1]['accuracy']:.3f}")
    return results


def stage_latencies(stage_files, audio, runs=50):
    """Median LCE latency of each stage, fed the activation the previous stage really produces."""
    out, x = [], np.ascontiguousarray(audio[:1], np.float32)
    for k, path in enumerate(stage_files, 1):
        m = LceModel(_read(path))
        out.append(m.latency_ms(x, runs=runs))
        res = dict(zip(m.names, m.run(x)))
        x = res.get("activation")
    return out


def parity(model, fb, audio):
    """Keras vs LCE TFLite on the same clips: worst absolute difference and top-1 agreement per exit."""
    lce_out = LceModel(fb).predict(audio)
    keras_out = {k: np.asarray(v) for k, v in model.predict(audio, verbose=0).items()}
    worst, agree = {}, {}
    for name, v in lce_out.items():
        worst[name] = float(np.max(np.abs(v - keras_out[name])))
        if name.endswith("_probs"):
            agree[name] = float(np.mean(np.argmax(v, 1) == np.argmax(keras_out[name], 1)))
    return {"max_abs_diff": max(worst.values()), "per_output": worst, "clips": len(audio),
            "top1_agreement": min(agree.values()) if agree else None, "top1_agreement_per_exit": agree}


def ratios(exits, float_ms):
    last = exits[-1]["latency_ms"]
    return {"last_exit_over_float_reference": last / float_ms if float_ms else None,
            "exit_over_last_exit": [e["latency_ms"] / last for e in exits]}


# ---- lce_benchmark_model -------------------------------------------------------------------

_NUM = r"([0-9.]+(?:[eE][+-]?[0-9]+)?)"
_TIMINGS = re.compile(r"Inference timings in us: Init: " + _NUM + r", First inference: " + _NUM
                      + r", Warmup \(avg\): " + _NUM + r", Inference \(avg\): " + _NUM)
_MEMORY = re.compile(r"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
                     r"init=" + _NUM + r" overall=" + _NUM)
_PEAK = re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring: " + _NUM)
_FILE = re.compile(r"^=== FILE: (\S+)", re.M)


def parse_lce_benchmark(text):
    """Figures of one (lce_)benchmark_model run; log prefixes ("INFO: ", logcat) are fine."""
    m = _TIMINGS.search(text)
    if not m:
        raise ValueError("no 'Inference timings in us: ...' line in the benchmark output")
    init, first, warm, avg = (float(v) for v in m.groups())
    r = {"init_us": init, "first_inference_us": first, "warmup_avg_us": warm, "inference_avg_us": avg,
         "latency_ms": avg / 1e3}
    mem = _MEMORY.search(text)
    if mem:
        r["memory_init_mb"], r["memory_overall_mb"] = float(mem.group(1)), float(mem.group(2))
    peak = _PEAK.search(text)
    if peak:
        r["memory_peak_mb"] = float(peak.group(1))
    return r


def parse_script_output(text):
    """Output of OUT/pi/run_benchmark.sh: '=== FILE: path' then that file's benchmark output."""
    marks = list(_FILE.finditer(text))
    if not marks:
        raise ValueError("no '=== FILE:' sections: is this the output of run_benchmark.sh?")
    res = {}
    for i, m in enumerate(marks):
        chunk = text[m.end():marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        try:
            res[m.group(1)] = parse_lce_benchmark(chunk)
        except ValueError as e:
            res[m.group(1)] = {"error": str(e)}
    return res


def model_files(out_dir, subs=("exits", "stages")):
    """exits/exit_K.tflite then stages/stage_K.tflite, relative to out_dir, ordered by K."""
    files = []
    for sub in subs:
        d = os.path.join(out_dir, sub)
        if os.path.isdir(d):
            files += [f"{sub}/{f}" for f in sorted(os.listdir(d), key=lambda f: int(re.sub(r"\D", "", f) or 0))
                      if f.endswith(".tflite")]
    return files


PI_SCRIPT = """#!/bin/sh
# Runs LCE's lce_benchmark_model on every exit and stage of this folder, 1 thread.
# Usage (on the device, from this folder's parent): sh pi/run_benchmark.sh /path/to/lce_benchmark_model > pi_output.txt
# Then, back on the machine with the pipeline: python -m export.benchmark OUT --parse pi_output.txt --device NAME
set -e
BIN=${1:-./lce_benchmark_model}
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"  # absolute, before leaving the caller's folder
cd "$(dirname "$0")/.."
for f in %s; do
  echo "=== FILE: $f"
  "$BIN" --graph="$f" --num_threads=1 --warmup_runs=5 --num_runs=50 2>&1 || echo "benchmark failed for $f"
done
"""


def write_pi_script(out_dir):
    os.makedirs(os.path.join(out_dir, "pi"), exist_ok=True)
    path = os.path.join(out_dir, "pi", "run_benchmark.sh")
    with open(path, "w") as f:
        f.write(PI_SCRIPT % " ".join(model_files(out_dir)))
    os.chmod(path, 0o755)
    return path


def run_lce_benchmark(out_dir, binary, ssh=None, remote_dir="/tmp/brillsson_bench"):
    """Run lce_benchmark_model on every exit and stage, here or on USER@HOST over ssh/scp."""
    script = write_pi_script(out_dir)
    if ssh:
        files = [script] + [os.path.join(out_dir, f) for f in model_files(out_dir)]
        subprocess.run(["ssh", ssh, f"mkdir -p {remote_dir}/pi {remote_dir}/exits {remote_dir}/stages"], check=True)
        for f in files:
            rel = os.path.relpath(f, out_dir)
            subprocess.run(["scp", "-q", f, f"{ssh}:{remote_dir}/{rel}"], check=True)
        cmd = ["ssh", ssh, f"sh {remote_dir}/pi/run_benchmark.sh {shlex.quote(binary)}"]
    else:
        cmd = ["sh", script, os.path.abspath(binary)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def merge_device_figures(out_dir, device, figures):
    """Add device figures to report.json under lce_benchmark[device] and rewrite report.md."""
    path = os.path.join(out_dir, "report.json")
    r = json.load(open(path)) if os.path.exists(path) else {}
    r.setdefault("lce_benchmark", {})[device] = figures
    with open(path, "w") as f:
        json.dump(r, f, indent=2)
    if "exits" in r:
        from pipeline import report
        report.write(out_dir, r)
    return r


# ---- here: LCE interpreter + float reference ----------------------------------------------

def measure(out_dir, audio, runs=50, progress=print):
    """Latency of every exit and stage with LCE's interpreter and the float reference."""
    exits = [os.path.join(out_dir, f) for f in model_files(out_dir, ["exits"])]
    stages = [os.path.join(out_dir, f) for f in model_files(out_dir, ["stages"])]
    lat = [LceModel(_read(p)).latency_ms(audio[:1], runs=runs) for p in exits]
    stage_ms = stage_latencies(stages, audio, runs=runs) if stages else []
    ref_path = os.path.join(out_dir, "float_reference.tflite")
    float_ms = float_latency_ms(_read(ref_path), audio, runs=runs) if os.path.exists(ref_path) else None
    figs = {"exits_ms": lat, "stages_ms": stage_ms, "float_reference_ms": float_ms, "runs": runs}
    if float_ms:
        figs["last_exit_over_float_reference"] = lat[-1] / float_ms
    figs["exit_over_last_exit"] = [v / lat[-1] for v in lat]
    progress(f"LCE exits (ms): {', '.join(f'{v:.3f}' for v in lat)}; stages (ms): "
             f"{', '.join(f'{v:.3f}' for v in stage_ms)}; float reference: {float_ms and round(float_ms, 3)} ms")
    return figs


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m export.benchmark", description=__doc__.split("\n")[0])
    ap.add_argument("out", help="a run's output folder")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--lce-benchmark", metavar="PATH", help="lce_benchmark_model binary (here, or on --ssh host)")
    ap.add_argument("--ssh", metavar="USER@HOST", help="copy the files to this host and benchmark there")
    ap.add_argument("--parse", metavar="FILE", help="read the saved output of OUT/pi/run_benchmark.sh")
    ap.add_argument("--device", help="device name for the figures (default: host name or 'this machine')")
    a = ap.parse_args(argv)
    if not os.path.exists(os.path.join(a.out, "exits")):
        sys.exit(f"error: {a.out}: no exits/ folder; run pipeline/run.py first")
    if a.parse or a.lce_benchmark:
        text = open(a.parse).read() if a.parse else run_lce_benchmark(a.out, a.lce_benchmark, a.ssh)
        figs = parse_script_output(text)
        device = a.device or (a.ssh.split("@")[-1] if a.ssh else os.uname().nodename)
        merge_device_figures(a.out, device, figs)
        for f, v in figs.items():
            print(f"{device}: {f}: " + (f"{v['latency_ms']:.3f} ms" if "latency_ms" in v else v["error"]))
        return figs
    n = LceModel(_read(os.path.join(a.out, "exits", "exit_1.tflite"))).interpreter.input_shapes[0][-1]
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (1, n)).astype(np.float32)
    figs = measure(a.out, x, runs=a.runs)
    merge_device_figures(a.out, a.device or "lce_interpreter_here", figs)
    return figs


if __name__ == "__main__":
    main()
