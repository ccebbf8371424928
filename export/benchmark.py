"""Benchmarks of an exported run: LCE interpreter here, `lce_benchmark_model` on a device.

    brillsson benchmark OUT [--runs 50]                       # every exit and stage, here
    brillsson benchmark OUT --lce-benchmark PATH [--ssh USER@HOST] [--device-name NAME]
    brillsson benchmark OUT --parse pi_output.txt --device-name "Raspberry Pi 4"

```python
from export import benchmark
from export.layout import Layout
figs = benchmark.measure(Layout(out_dir), clips)  # exits, stages, float reference, ratios
benchmark.parse_lce_benchmark(text)               # one run of (lce_)benchmark_model
```
LCE interpreter figures: 1 thread, warm-up, median of `runs` single-clip invocations. The
float reference is the same network converted with TensorFlow's stock converter (binary
convs as float convs) on stock TFLite with XNNPACK, 1 thread. Every exit, every stage and the
float reference are timed round-robin in one process (one call of each in turn), so a burst of
load on the machine hits them alike and their ratios are side by side.
"""

import logging
import os
import re
import shlex
import subprocess

import numpy as np
import tensorflow as tf

from export import clips, flatbuffer
from export.convert import ACTIVATION
from export.files import read_bytes
from export.flatbuffer import output_order
from export.interpreter import LceModel, round_robin_ms
from export.layout import IncompleteExport
from export.stream import FrameFrontEnd
from models.students import EMBEDDING, PROBS, output_kind, output_name, parse_output_name

log = logging.getLogger(__name__)


def _row_cosines(a, b):
    """The cosine between each row of `a` and the same row of `b`, [n]."""
    a = a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-12)
    b = b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-12)
    return np.sum(a * b, axis=1)


def _cosine(a, b):
    return float(np.mean(_row_cosines(a, b)))


def _stock_interpreter(fb, x):
    """The stock TFLite interpreter (XNNPACK delegate on by default for float graphs), 1 thread, its
    input sized for one clip of `x`; returns (interpreter, input index)."""
    it = tf.lite.Interpreter(model_content=fb, num_threads=1)
    inp = it.get_input_details()[0]
    if list(inp["shape"]) != list(x[:1].shape):
        it.resize_tensor_input(inp["index"], x[:1].shape)
    it.allocate_tensors()
    return it, inp["index"]


def float_runner(fb, x):
    """One invocation of the stock TFLite interpreter, 1 thread, on the first clip of `x`.

    Args:
        fb: a stock TFLite flatbuffer (bytes).
        x: inputs [n, ...]; only the first is used.

    Returns:
        A function of no arguments that runs one invocation (for `round_robin_ms`).
    """
    it, index = _stock_interpreter(fb, x)
    x1 = np.ascontiguousarray(x[:1], np.float32)

    def once():
        it.set_tensor(index, x1)
        it.invoke()

    return once


def stage_inputs(stages, audio):
    """The input each stage really gets: audio for stage 1, then the activation of the stage before.

    Args:
        stages: [(path, `LceModel`)] of the stages in order.
        audio: clips [n, samples]; only the first is used.

    Returns:
        One input per stage, each a batch of one.

    Raises:
        IncompleteExport: when a stage follows one without an activation output (mixed exports).
    """
    inputs, x = [], np.ascontiguousarray(audio[:1], np.float32)
    for path, m in stages:
        if x is None:
            raise IncompleteExport(
                f"{path}: follows a stage without an activation output (the last stage of "
                "another export?); the stages folder mixes two exports"
            )
        inputs.append(x)
        x = dict(zip(m.names, m.run(x))).get(ACTIVATION)
    return inputs


def float_predict(fb, x):
    """Every clip of `x` (an array, or clips read in batches: `export.clips`) through a stock-TFLite model
    (XNNPACK, 1 thread), one at a time: {output: [n, ...]}.

    Args:
        fb: a stock TFLite flatbuffer (bytes).
        x: the clips, an array [n, ...] or a split (`export.clips`).

    Returns:
        {output name: [n, ...]} in the signature's output names.
    """
    it, index = _stock_interpreter(fb, clips.head(x, 1))
    outputs = [d["index"] for d in it.get_output_details()]
    got = []
    for one in clips.each(x):
        it.set_tensor(index, np.ascontiguousarray(one, np.float32))
        it.invoke()
        got.append([it.get_tensor(o) for o in outputs])
    return {n: np.concatenate([g[j] for g in got]) for j, n in enumerate(output_order(fb))}


def score_float_twin(twin_files, audio, labels, root=None):
    """For each float_twin/exit_K.tflite: bytes and accuracy on `audio` with stock TFLite (and the
    probabilities under "probs", not for the report).

    Args:
        twin_files: the float twin's exit files, ordered by K.
        audio: the clips, an array [n, samples].
        labels: the class index of each clip [n].
        root: the folder the reported paths are relative to; None: the paths as given.

    Returns:
        [{"index", "path", "bytes", "accuracy" (None without labels), "probs" [n, C]}], one per exit.
    """
    results = []
    for k, path in enumerate(twin_files, 1):
        fb = read_bytes(path)
        probs = float_predict(fb, audio)[output_name(k, PROBS)] if len(audio) else np.zeros((0, 1))
        results.append(
            {
                "index": k,
                "path": os.path.relpath(path, root) if root else path,
                "bytes": len(fb),
                "accuracy": float(np.mean(np.argmax(probs, 1) == labels)) if len(labels) else None,
                "probs": probs,
            }
        )
    return results


def latencies(
    exit_files, stage_files, float_reference, audio, runs=50, warmup=5, stream=None, twin_files=(), baseline_file=None
):
    """Median latency (ms, 1 thread) of every exit and stage with LCE's interpreter and of the float
    reference with stock TFLite, all timed round-robin in this process (`round_robin_ms`).

    `stream` = (stream/frontend.tflite, stream/stage_1.tflite, stream settings, hop frames) adds the live
    runtime's costs: the front end on one hop's new frames, and stage 1 from log-mel frames;
    `twin_files` (float_twin/exit_K.tflite) the float twin's exits on stock TFLite + XNNPACK, `baseline_file`
    the int8 baseline (`pipeline.baseline`) on stock TFLite + XNNPACK.
    Returns {"exits": [ms], "float_twin": [ms], "stages": [ms], "float_reference": ms or None,
    "stream_frontend_hop": ms, "frontend_clip": ms (the front end on the whole clip), "stream_stage1": ms}.

    Args:
        exit_files: exits/exit_K.tflite, ordered by K.
        stage_files: stages/stage_K.tflite, ordered by K.
        float_reference: float_reference.tflite, or None to skip it.
        audio: the clips (an array or a split, `export.clips`); every latency is of the first.
        runs: timed rounds.
        warmup: untimed rounds first.
        stream: (front-end path, streaming stage 1 path, stream settings dict, hop frames), or None.
        twin_files: the float twin's exit files, ordered by K.
        baseline_file: the int8 baseline's flatbuffer, or None.

    Returns:
        The dict above, with "baseline": ms; an entry that was not timed is None (a list is empty).
    """
    x1 = np.ascontiguousarray(clips.head(audio, 1), np.float32)  # every latency is of one clip
    exits = [LceModel(read_bytes(p)) for p in exit_files]
    stages = [(p, LceModel(read_bytes(p))) for p in stage_files]
    fns = {f"exit{k}": (lambda m=m: m.run(x1)) for k, m in enumerate(exits, 1)}
    fns.update(
        {
            f"stage{k}": (lambda m=m, x=x: m.run(x))
            for k, ((_, m), x) in enumerate(zip(stages, stage_inputs(stages, x1)), 1)
        }
    )
    if float_reference:
        fns["float"] = float_runner(read_bytes(float_reference), x1)
    if stream:
        frontend_path, stage1_path, settings, hop_frames = stream
        frontend = FrameFrontEnd(read_bytes(frontend_path), settings["frame_length"], settings["frame_step"])
        stage1 = LceModel(read_bytes(stage1_path))
        frames, hop_block = frontend.frames(x1[0])[None], x1[0, : frontend.block_samples(hop_frames)]
        fns["frontend_hop"] = lambda: frontend.frames(hop_block)
        clip_frontend = FrameFrontEnd(read_bytes(frontend_path), settings["frame_length"], settings["frame_step"])
        fns["frontend_clip"] = lambda: clip_frontend.frames(x1[0])  # the front end's share of a clip's exit
        fns["stream_stage1"] = lambda: stage1.run(frames)
    for k, path in enumerate(twin_files, 1):
        fns[f"twin{k}"] = float_runner(read_bytes(path), x1)
    if baseline_file:
        fns["baseline"] = float_runner(read_bytes(baseline_file), x1)
    ms = round_robin_ms(fns, runs, warmup)
    return {
        "exits": [ms[f"exit{k}"] for k in range(1, len(exits) + 1)],
        "float_twin": [ms[f"twin{k}"] for k in range(1, len(twin_files) + 1)],
        "stages": [ms[f"stage{k}"] for k in range(1, len(stages) + 1)],
        "float_reference": ms.get("float"),
        "stream_frontend_hop": ms.get("frontend_hop"),
        "frontend_clip": ms.get("frontend_clip"),
        "stream_stage1": ms.get("stream_stage1"),
        "baseline": ms.get("baseline"),
    }


def score_exits(exit_files, audio, labels, root=None):
    """For each exits/exit_K.tflite: bytes and accuracy on `audio` (an array, or clips read in batches:
    `export.clips`).

    Also returns every exit's probabilities on `audio` under the key "probs" (not for the report).

    Args:
        exit_files: exits/exit_K.tflite, ordered by K.
        audio: the clips, an array [n, samples] or a split.
        labels: the class index of each clip [n].
        root: the folder the reported paths are relative to; None: the paths as given.

    Returns:
        [{"index", "path", "bytes", "accuracy" (None without labels), "probs" [n, C]}], one per exit.
    """
    results = []
    for k, path in enumerate(exit_files, 1):
        fb = read_bytes(path)
        probs = LceModel(fb).predict(audio)[output_name(k, PROBS)]
        results.append(
            {
                "index": k,
                "path": os.path.relpath(path, root) if root else path,
                "bytes": len(fb),
                "accuracy": float(np.mean(np.argmax(probs, 1) == labels)) if len(labels) else None,
                "probs": probs,
            }
        )
    return results


def score_embedding(path, audio, teacher_embeddings=None, full_heads=None, root=None):
    """embedding.tflite: bytes and, per exit, the cosine of its embedding to the teacher's on `audio`;
    with `full_heads` ({exitK_embedding: [n, d]} of the full-rank float heads), the cosine those had,
    so the cost of the smaller heads is measured on the same clips.

    Args:
        path: embedding.tflite.
        audio: the clips, an array [n, samples] or a split.
        teacher_embeddings: the teacher's embeddings of the clips [n, d]; None: no cosines.
        full_heads: {exitK_embedding: [n, d]} of the full-rank heads; None: no full-rank cosines.
        root: the folder the reported path is relative to; None: the path as given.

    Returns:
        {"path", "bytes", "clips", "int8_weights" (whether the file stores weights as int8,
        `export.weights`), "constant_bytes" (`flatbuffer.inspect`'s: what the file stores per op type),
        "exits": [{"index", "output", "dim", "cosine_to_teacher",
        "full_rank_cosine_to_teacher"} (the cosines only when computed)]}.
    """
    fb = read_bytes(path)
    outs = LceModel(fb).predict(audio) if len(audio) else {}
    exits = []
    for name in sorted(outs, key=lambda n: parse_output_name(n) or (0, "")):
        parsed = parse_output_name(name)
        if not parsed or parsed[1] != EMBEDDING:
            continue
        row = {"index": parsed[0], "output": name, "dim": int(outs[name].shape[1])}
        if teacher_embeddings is not None:
            row["cosine_to_teacher"] = _cosine(outs[name], teacher_embeddings)
            if full_heads is not None and name in full_heads:
                row["full_rank_cosine_to_teacher"] = _cosine(np.asarray(full_heads[name]), teacher_embeddings)
        exits.append(row)
    info = flatbuffer.inspect(fb)
    return {
        "path": os.path.relpath(path, root) if root else path,
        "bytes": len(fb),
        "clips": len(audio),
        "int8_weights": "DEQUANTIZE/INT8" in info["constant_bytes"],
        "constant_bytes": info["constant_bytes"],
        "exits": exits,
    }


def parity(model, fb, audio):
    """Keras vs LCE TFLite on the same clips: worst absolute difference and top-1 agreement per exit.

    Args:
        model: the Keras model that `fb` was converted from.
        fb: its LCE flatbuffer (bytes).
        audio: the clips, an array [n, samples] or a split.

    Returns:
        {"max_abs_diff", "per_output": {name: worst difference}, "clips", "top1_agreement" (the lowest over
        exits; None without probabilities), "top1_agreement_per_exit": {exitK_probs: agreement},
        "min_cosine" (the lowest cosine between a clip's two vectors over the other outputs, such as
        embeddings; None without them)}.
    """
    lce_out = LceModel(fb).predict(audio)
    keras_out = clips.keras_predict(model, audio)
    worst, agree, cosine = {}, {}, []
    for name, v in lce_out.items():
        k = keras_out[name]
        worst[name] = float(np.max(np.abs(v - k)))
        if output_kind(name) == PROBS:
            agree[name] = float(np.mean(np.argmax(v, 1) == np.argmax(k, 1)))
        else:
            cosine.append(float(np.min(_row_cosines(v, k))))
    return {
        "max_abs_diff": max(worst.values()),
        "per_output": worst,
        "clips": len(audio),
        "top1_agreement": min(agree.values()) if agree else None,
        "top1_agreement_per_exit": agree,
        "min_cosine": min(cosine) if cosine else None,
    }


def ratios(exits, float_ms):
    """Latency ratios of the exits, for the report.

    Args:
        exits: one dict with "latency_ms" per exit, ordered by K.
        float_ms: the float reference's latency in ms, or None.

    Returns:
        {"last_exit_over_float_reference": ratio or None, "exit_over_last_exit": [ratio per exit]}.
    """
    last = exits[-1]["latency_ms"]
    return {
        "last_exit_over_float_reference": last / float_ms if float_ms else None,
        "exit_over_last_exit": [e["latency_ms"] / last for e in exits],
    }


# ---- lce_benchmark_model -------------------------------------------------------------------

_NUM = r"([0-9.]+(?:[eE][+-]?[0-9]+)?)"
_TIMINGS = re.compile(
    r"Inference timings in us: Init: "
    + _NUM
    + r", First inference: "
    + _NUM
    + r", Warmup \(avg\): "
    + _NUM
    + r", Inference \(avg\): "
    + _NUM
)
_MEMORY = re.compile(
    r"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
    r"init=" + _NUM + r" overall=" + _NUM
)
_PEAK = re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring: " + _NUM)
_FILE = re.compile(r"^=== FILE: (\S+)", re.M)


def parse_lce_benchmark(text):
    """Figures of one (lce_)benchmark_model run; log prefixes ("INFO: ", logcat) are fine.

    Args:
        text: the output of one run.

    Returns:
        {"init_us", "first_inference_us", "warmup_avg_us", "inference_avg_us", "latency_ms"}, plus
        "memory_init_mb", "memory_overall_mb" and "memory_peak_mb" when the output reports them.

    Raises:
        ValueError: when the output has no "Inference timings in us" line.
    """
    m = _TIMINGS.search(text)
    if not m:
        raise ValueError("no 'Inference timings in us: ...' line in the benchmark output")
    init, first, warm, avg = (float(v) for v in m.groups())
    r = {
        "init_us": init,
        "first_inference_us": first,
        "warmup_avg_us": warm,
        "inference_avg_us": avg,
        "latency_ms": avg / 1e3,
    }
    mem = _MEMORY.search(text)
    if mem:
        r["memory_init_mb"], r["memory_overall_mb"] = float(mem.group(1)), float(mem.group(2))
    peak = _PEAK.search(text)
    if peak:
        r["memory_peak_mb"] = float(peak.group(1))
    return r


def parse_script_output(text):
    """Output of OUT/pi/run_benchmark.sh: '=== FILE: path' then that file's benchmark output.

    Args:
        text: the script's whole output.

    Returns:
        {file path: `parse_lce_benchmark` figures, or {"error": message} for a section without timings}.

    Raises:
        ValueError: when the text has no '=== FILE:' section.
    """
    marks = list(_FILE.finditer(text))
    if not marks:
        raise ValueError("no '=== FILE:' sections: is this the output of run_benchmark.sh?")
    res = {}
    for i, m in enumerate(marks):
        chunk = text[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        try:
            res[m.group(1)] = parse_lce_benchmark(chunk)
        except ValueError as e:
            res[m.group(1)] = {"error": str(e)}
    return res


PI_SCRIPT = """#!/bin/sh
# Runs LCE's lce_benchmark_model on every exit and stage of this folder, 1 thread.
# Usage (on the device, from this folder's parent): sh pi/run_benchmark.sh /path/to/lce_benchmark_model > pi_output.txt
# Then, back on the machine with the pipeline: brillsson benchmark OUT --parse pi_output.txt --device-name NAME
set -e
BIN=${1:-./lce_benchmark_model}
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"  # absolute, before leaving the caller's folder
cd "$(dirname "$0")/.."
for f in %s; do
  echo "=== FILE: $f"
  "$BIN" --graph="$f" --num_threads=1 --warmup_runs=5 --num_runs=50 2>&1 || echo "benchmark failed for $f"
done
"""


def device_files(layout):
    """exits/exit_K.tflite then stages/stage_K.tflite, relative to the output folder, ordered by K.

    Args:
        layout: the run's output folder (`Layout`).

    Returns:
        The relative paths of the files present.
    """
    return [layout.relative(p) for p in layout.exit_files() + layout.stage_files()]


def write_pi_script(layout):
    """Write OUT/pi/run_benchmark.sh, which runs lce_benchmark_model on every exit and stage.

    Args:
        layout: the run's output folder (`Layout`).

    Returns:
        The script's path.
    """
    os.makedirs(os.path.dirname(layout.pi_script), exist_ok=True)
    with open(layout.pi_script, "w") as f:
        f.write(PI_SCRIPT % " ".join(device_files(layout)))
    os.chmod(layout.pi_script, 0o755)
    return layout.pi_script


def run_lce_benchmark(layout, binary, ssh=None, remote_dir="/tmp/brillsson_bench"):
    """Run lce_benchmark_model on every exit and stage, here or on USER@HOST over ssh/scp.

    Args:
        layout: the run's output folder (`Layout`).
        binary: the path of lce_benchmark_model (on the device when `ssh` is given).
        ssh: USER@HOST to copy the files to and run there; None: run here.
        remote_dir: the folder on the device the files are copied to.

    Returns:
        The script's standard output (for `parse_script_output`).

    Raises:
        RuntimeError: when the script exits with a non-zero status.
        subprocess.CalledProcessError: when an ssh or scp command fails.
    """
    script = write_pi_script(layout)
    if ssh:
        files = [script] + [layout.path(f) for f in device_files(layout)]
        subprocess.run(["ssh", ssh, f"mkdir -p {remote_dir}/pi {remote_dir}/exits {remote_dir}/stages"], check=True)
        for f in files:
            rel = layout.relative(f)
            subprocess.run(["scp", "-q", f, f"{ssh}:{remote_dir}/{rel}"], check=True)
        cmd = ["ssh", ssh, f"sh {remote_dir}/pi/run_benchmark.sh {shlex.quote(binary)}"]
    else:
        cmd = ["sh", script, os.path.abspath(binary)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def merge_device_figures(report, device, figures):
    """`report` (a run's report.json, as a dict) with device figures added under lce_benchmark[device].

    Args:
        report: the report dict (not modified).
        device: the device's name.
        figures: that device's figures (e.g. `parse_script_output`'s).

    Returns:
        A new dict: `report` with lce_benchmark[device] set to `figures`, other devices' kept.
    """
    return {**report, "lce_benchmark": {**report.get("lce_benchmark", {}), device: figures}}


# ---- here: LCE interpreter + float reference ----------------------------------------------


def measure(layout, audio, runs=50):
    """Latency of every exit and stage with LCE's interpreter and the float reference.

    Args:
        layout: the run's output folder (`Layout`).
        audio: the clips (an array or a split); every latency is of the first.
        runs: timed rounds.

    Returns:
        {"exits_ms", "stages_ms", "float_reference_ms" (None without the file), "runs",
        "exit_over_last_exit", and "last_exit_over_float_reference" when there is a float reference}.

    Raises:
        IncompleteExport: when the folder has no exits/exit_1.tflite.
    """
    exits = layout.exit_files()
    if not exits:
        layout.require(layout.exit(1))
    ref = layout.float_reference
    ms = latencies(exits, layout.stage_files(), ref if os.path.exists(ref) else None, audio, runs=runs)
    lat, stage_ms, float_ms = ms["exits"], ms["stages"], ms["float_reference"]
    figs = {"exits_ms": lat, "stages_ms": stage_ms, "float_reference_ms": float_ms, "runs": runs}
    if float_ms:
        figs["last_exit_over_float_reference"] = lat[-1] / float_ms
    figs["exit_over_last_exit"] = [v / lat[-1] for v in lat]
    log.info(
        f"LCE exits (ms): {', '.join(f'{v:.3f}' for v in lat)}; stages (ms): "
        f"{', '.join(f'{v:.3f}' for v in stage_ms)}; float reference: {float_ms and round(float_ms, 3)} ms"
    )
    return figs


if __name__ == "__main__":  # an earlier version's command
    from models.errors import retired_command

    retired_command("export.benchmark", "benchmark")
