"""Stage 5, files → figures: latency and accuracy of every exit (LCE interpreter), stage
latencies, the float reference, Keras-vs-TFLite parity, and early-exit calibration
(thresholds.json, shared test vectors, the Raspberry Pi benchmark script).

```python
from pipeline import figures
figs = figures.measure(trained.model, made, corpus, targets, layout, runs=50)
figs.section()        # report.json: exits, stages, float_reference, performance, early_exit, ...
```
"""

import collections
import dataclasses
import logging
from typing import List, Optional

import numpy as np

from export import benchmark, clips, convert, estimate, flatbuffer, stream, vectors
from export.files import read_bytes
from pipeline import calibrate, spread
from pipeline.report import fmt_value

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Figures:
    exits: List[dict]
    stages: List[dict]
    float_reference: dict
    performance: dict
    early_exit: List[dict]
    early_exit_targets: dict
    early_exit_per_class_mean_exit: dict
    parity: dict
    embedding_model: dict
    streaming: dict
    targets: List[dict]
    device_estimate: Optional[dict] = None
    baseline: Optional[dict] = None
    float_twin: Optional[dict] = None

    def section(self):
        return dataclasses.asdict(self)


def measure(model, made, corpus, targets, layout, runs=50, twin_files=(), baseline=None) -> Figures:
    """Stage 5, files → figures: score and time every exported file on the test clips.

    Args:
        model: the trained student (Keras) the files came from.
        made: the exported files (`artifacts.export_student`).
        corpus: the decoded clips (the test split is used).
        targets: the teacher targets (for the embeddings' cosine to the teacher).
        layout: the run's output folder.
        runs: timed runs per latency figure.
        twin_files: the float twin's exit files, timed beside the exits; () without a twin.
        baseline: the trained int8 baseline (`pipeline.baseline`), timed beside the exits; None without one.

    Returns:
        The `Figures`: accuracy, latency and bytes per exit and stage, the embedding model's cosines,
        the float reference, parity, the device estimate, streaming costs and the early-exit calibration.
    """
    test = corpus.test
    log.info(
        f"benchmark: LCE interpreter, 1 thread, median of {runs} runs per exit and stage, float reference "
        "on stock TFLite, all timed round-robin"
    )
    # `test` is a corpus.Split or a shards.StreamedSplit: read a batch at a time (export.clips), never whole
    exits = benchmark.score_exits(made.files.exits, test, test.labels, root=layout.root)
    # the full-rank float heads, read out as embedding.tflite reads its heads (alone, or the exits' mean)
    full = convert.embedding_model(model, None, ensemble=made.embedding_ensemble)
    full_heads = clips.keras_predict(full, test) if len(test) else None
    embedding = {
        **benchmark.score_embedding(made.files.embedding, test, targets.test, full_heads, layout.root),
        "rank": made.embedding_rank,
        "ensemble": made.embedding_ensemble,
    }
    cosines = {e["index"]: e.get("cosine_to_teacher") for e in embedding["exits"]}
    settings = stream.read_settings(layout)
    hop_frames = settings["frames"] // 2  # a decision every half window, as `classify_long` and `listen` make them
    ms = benchmark.latencies(
        made.files.exits,
        made.files.stages,
        made.files.float_reference,
        test,
        runs=runs,
        stream=(made.files.stream[0], made.files.stream[1], settings, hop_frames),
        twin_files=twin_files,
        baseline_file=baseline.path if baseline else None,
    )
    stage_ms, float_ms = ms["stages"], ms["float_reference"]
    for e, v in zip(exits, ms["exits"]):
        e["latency_ms"] = v
        e["embedding_cosine"] = cosines.get(e["index"])
        log.info(f"exit {e['index']}: {v:.2f} ms, accuracy {fmt_value(e['accuracy'])}")
    probs = [e.pop("probs") for e in exits]
    for e in exits:  # how far an accuracy on this many clips can move by chance
        e["test_clips"] = len(test)
        e["accuracy_se"] = spread.standard_error(e["accuracy"], len(test))
    log.info(
        f"float reference (stock TFLite + XNNPACK, 1 thread): {float_ms:.2f} ms; LCE last exit: "
        f"{exits[-1]['latency_ms']:.2f} ms"
    )
    sweep = calibrate.sweep(probs, test.labels, stage_ms) if len(test) else []
    chosen = _choose_thresholds(made, corpus.validation, probs, test, stage_ms, exits)
    calibrate.write_thresholds(layout, chosen, len(exits), test.clip_samples)
    honest = calibrate.cross_validated(probs, test.labels, stage_ms)
    for name, c in chosen.items():
        h = honest[name]
        log.info(
            f"early exit '{name}': threshold {c['threshold']:.3f} (chosen on {c.get('chosen_on', 'nothing')}), "
            f"test accuracy {fmt_value(c['accuracy'])}, mean latency {fmt_value(c['mean_latency_ms'], '.2f')} ms "
            "(2-fold cross-validated on test: "
            + (f"{h['accuracy']:.3f}, {h['mean_latency_ms']:.2f} ms)" if h["accuracy"] is not None else h["note"] + ")")
        )
    per_class = calibrate.per_class_exit(probs, test.labels, corpus.labels, chosen["within_1pct"]["threshold"])
    live = _streaming(ms, stage_ms, hop_frames, chosen["within_1pct"])
    log.info(
        f"stage 1 share of the chain: clip model {live['clip_stage1_share']:.2f}, streaming "
        f"{live['stage1_share']:.2f} (front end {ms['stream_frontend_hop']:.3f} ms per {hop_frames}-frame hop)"
    )
    log.info(
        f"embedding.tflite: {embedding['bytes']:,} bytes, heads "
        f"{'rank ' + str(made.embedding_rank) if made.embedding_rank else 'full rank'}"
        f"{', exit k the mean of heads 1..k' if made.embedding_ensemble else ''}, cosine to the teacher "
        + ", ".join(
            f"exit {e['index']} {fmt_value(e.get('cosine_to_teacher'))} (full-rank head "
            f"{fmt_value(e.get('full_rank_cosine_to_teacher'))})"
            for e in embedding["exits"]
        )
    )
    benchmark.write_pi_script(layout)
    vectors.write(layout.vectors, [p[:16] for p in probs], [0.0, chosen["within_1pct"]["threshold"], 0.5, 1.0])
    stages = [
        {"index": k, "path": layout.relative(p), "latency_ms": v, **_ops(p)}
        for k, (p, v) in enumerate(zip(made.files.stages, stage_ms), 1)
    ]
    performance = benchmark.ratios(exits, float_ms)
    performance["frontend_clip_ms"] = ms.get("frontend_clip")
    performance["frontend_over_last_exit"] = (
        ms["frontend_clip"] / exits[-1]["latency_ms"] if ms.get("frontend_clip") else None
    )
    early_exit_targets = {
        k: {**v, "cross_validated": honest[k], "noise": _noise(v, exits[-1], len(test))} for k, v in chosen.items()
    }
    device = device_estimate(
        made.files.stages,
        made.files.stream[1],
        probs,
        test.labels,
        chosen["within_1pct"]["threshold"],
        float_reference_file=made.files.float_reference,
    )
    base = _baseline(baseline, ms.get("baseline"), exits, honest, device, test, layout) if baseline else None
    return Figures(
        exits=exits,
        stages=stages,
        float_reference={
            "latency_ms": float_ms,
            "path": layout.relative(made.files.float_reference),
            "runtime": "stock TFLite + XNNPACK, 1 thread",
        },
        performance=performance,
        early_exit=sweep,
        early_exit_targets=early_exit_targets,
        early_exit_per_class_mean_exit=per_class,
        parity=benchmark.parity(model, made.flatbuffer, clips.head(test, 64)),
        embedding_model=embedding,
        streaming=live,
        targets=targets_met(
            exits,
            stages,
            performance,
            early_exit_targets,
            live,
            len(made.flatbuffer),
            embedding["bytes"],
            device,
            contents={
                "model.tflite": file_contents(
                    flatbuffer.inspect(made.flatbuffer)["constant_bytes"], len(made.flatbuffer)
                ),
                "embedding.tflite": file_contents(embedding["constant_bytes"], embedding["bytes"]),
            },
            baseline=base,
        ),
        device_estimate=device,
        baseline=base,
        float_twin=_float_twin(twin_files, ms["float_twin"], exits, probs, test, layout) if twin_files else None,
    )


def _stock_accuracy(fb, test):
    """Test accuracy of a one-output stock-TFLite classifier (XNNPACK); None without test clips."""
    if not len(test):
        return None
    probs = next(iter(benchmark.float_predict(fb, test).values()))
    return float(np.mean(np.argmax(probs, 1) == test.labels))


def _baseline(baseline, latency_ms, exits, honest, device, test, layout):
    """The int8 baseline beside the binary exits: accuracy on the same test clips (and its float file's,
    before quantization), bytes, latency timed round-robin with the exits, its device estimate, and how
    the early exit compares at its latency."""
    fb, float_fb = read_bytes(baseline.path), read_bytes(baseline.float_path)
    accuracy, float_accuracy = _stock_accuracy(fb, test), _stock_accuracy(float_fb, test)
    est = estimate.estimate(fb)
    cv = honest.get("within_1pct", {})
    dcv = device.get("cross_validated", {}).get("within_1pct", {})
    out = {
        **baseline.section(),
        "bytes": len(fb),
        "accuracy": accuracy,
        "test_clips": len(test),
        "accuracy_se": spread.standard_error(accuracy, len(test)),
        "float_accuracy": float_accuracy,  # the same network before int8 quantization
        "float_bytes": len(float_fb),
        "latency_ms": latency_ms,
        "device_estimate_ms": est["ms"],
        "macs": flatbuffer.inspect(fb)["total_macs"],
        "early_exit_minus_baseline": (
            None if cv.get("accuracy") is None or accuracy is None else cv["accuracy"] - accuracy
        ),
        "early_exit_over_baseline_latency": (
            cv["mean_latency_ms"] / latency_ms if cv.get("mean_latency_ms") and latency_ms else None
        ),
        "device_early_exit_over_baseline_latency": (
            dcv["mean_latency_ms"] / est["ms"] if dcv.get("mean_latency_ms") else None
        ),
    }
    log.info(
        f"baseline {baseline.name} (int8, stock TFLite): accuracy {fmt_value(accuracy)} "
        f"(float before quantization {fmt_value(float_accuracy)}), {len(fb):,} bytes, "
        f"{fmt_value(latency_ms, '.2f')} ms here, {est['ms']:.2f} ms estimated on {est['device']}"
    )
    return out


def _float_twin(twin_files, twin_ms, exits, probs, test, layout):
    """The float twin's exits beside the binary ones: accuracy, latency, bytes and the binarization gap
    (float minus binary accuracy on the same test clips, with the paired standard error)."""
    twin = benchmark.score_float_twin(twin_files, test, test.labels, root=layout.root)
    gaps = []
    for t, e, p, ms in zip(twin, exits, probs, twin_ms):
        t["latency_ms"] = ms
        t["test_clips"] = len(test)
        t["accuracy_se"] = spread.standard_error(t["accuracy"], len(test))
        right_f = np.argmax(t.pop("probs"), 1) == test.labels
        right_b = np.argmax(p, 1) == test.labels
        d = right_f.astype(float) - right_b.astype(float)
        gaps.append(
            {
                "index": e["index"],
                "float_minus_binary": float(np.mean(d)) if len(d) else None,
                "standard_error": float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None,
                "test_clips": len(test),
            }
        )
        log.info(
            f"float twin exit {t['index']}: {ms:.2f} ms (stock TFLite + XNNPACK), accuracy "
            f"{fmt_value(t['accuracy'])}; binary {fmt_value(e['accuracy'])} ({e['latency_ms']:.2f} ms, LCE)"
        )
    last = exits[-1]["latency_ms"] / twin[-1]["latency_ms"] if twin else None
    return {
        "exits": twin,
        "binarization_gap": gaps,
        "binary_last_exit_over_twin_last_exit": last,
        "runtime": "stock TFLite + XNNPACK, 1 thread, timed round-robin with the binary exits (LCE)",
        "note": "the same family, widths, exits, front end and recipe with every binary convolution "
        "full-precision (students.float_twin), trained on the same clips and teacher targets; the "
        "gap's standard error is paired (the same test clips)",
    }


def _streaming(ms, stage_ms, hop_frames, target):
    """The live runtime's costs: stage 1 from log-mel frames, the front end once per hop on its new frames.

    A decision every hop costs the stages it runs plus one front-end call on the hop's frames.
    """
    stages = [ms["stream_stage1"]] + list(stage_ms[1:])
    cum = np.cumsum(stages)
    frontend_per_hop = ms["stream_frontend_hop"]
    hist = target.get("exit_histogram") or []
    mean_stages = float(np.dot(hist, cum[: len(hist)]) / sum(hist)) if sum(hist) else None
    return {
        "stages_ms": stages,
        "stage1_share": stages[0] / float(np.sum(stages)),
        "clip_stage1_share": stage_ms[0] / float(np.sum(stage_ms)),
        "hop_frames": hop_frames,
        "frontend_per_hop_ms": frontend_per_hop,
        "early_exit_within_1pct_mean_ms": None if mean_stages is None else mean_stages + frontend_per_hop,
        "last_exit_ms": float(cum[-1]) + frontend_per_hop,
        "note": "stream/stage_1.tflite takes log-mel frames, which the live runtime computes once, in one "
        "front-end call per hop on the hop's new frames (stream/frontend.tflite); a decision every half "
        "window pays the stages it runs plus that call. The clip model (stages/) recomputes every "
        "frame of the window in stage 1",
    }


def _ops(path):
    """What a stage file computes: bytes, float and binary MACs and its op counts (what an ARM device's
    latency follows, where x86's portable kernels do not)."""
    with open(path, "rb") as f:
        fb = f.read()
    info = flatbuffer.inspect(fb)
    return {
        "bytes": len(fb),
        "macs": info["total_macs"],
        "binary_macs": info["binary_macs"],
        "float_macs": info["total_macs"] - info["binary_macs"],
        "op_counts": info["op_counts"],
    }


def device_estimate(
    stage_files, stream_stage1_file, probs, labels, threshold, device="rpi4", float_reference_file=None
):
    """What a device would do (`export.estimate`): every stage's latency estimated from its ops and MACs,
    the exits' cumulative latencies, the front end's part of stage 1 (the clip model's stage 1 minus
    stream/stage_1.tflite, which takes log-mel frames), early exit on those latencies, cross-validated
    on the test clips as on this machine, and, given `float_reference_file` (the same network with float
    convolutions, stock TFLite), the last exit against it there."""
    stage_est = [estimate.estimate(read_bytes(p), device) for p in stage_files]
    stage_ms = [e["ms"] for e in stage_est]
    frontend_ms = stage_ms[0] - estimate.estimate(read_bytes(stream_stage1_file), device)["ms"]
    exits_ms = [float(v) for v in np.cumsum(stage_ms)]
    labels = np.asarray(labels)
    honest = calibrate.cross_validated(probs, labels, stage_ms) if len(labels) else {}
    chosen = calibrate.simulate(probs, labels, stage_ms, threshold) if len(labels) else {}
    chosen.pop("exits", None)
    rates = estimate.get(device).rates()
    reference = {}
    if float_reference_file:
        ref_ms = estimate.estimate(read_bytes(float_reference_file), device)["ms"]
        reference = {"float_reference_ms": ref_ms, "last_exit_over_float_reference": exits_ms[-1] / ref_ms}
    return {
        "device": rates["name"],
        **reference,
        "rates": rates,
        "stages_ms": stage_ms,
        "stage_parts_ms": [e["parts_ms"] for e in stage_est],
        "exits_ms": exits_ms,
        "exit_over_last_exit": [v / exits_ms[-1] for v in exits_ms],
        "frontend_ms": frontend_ms,
        "frontend_over_last_exit": frontend_ms / exits_ms[-1],
        "early_exit_within_1pct": chosen,
        "cross_validated": honest,
        "note": "estimated from each stage's ops and MAC counts at the rates listed (export.estimate), not "
        "measured: brillsson benchmark OUT --lce-benchmark … on the device measures",
    }


# what a file's stored bytes hold, by the op type that reads them (flatbuffer.inspect's constant_bytes)
_STORED = {
    "LceBconv2d": "bit-packed binary convolutions",
    "CONV_2D": "float convolutions",
    "DEPTHWISE_CONV_2D": "float depthwise convolutions",
    "FULLY_CONNECTED": "float dense layers",
    "BATCH_MATMUL": "float matrix products",
    "DEQUANTIZE/INT8": "int8 weights",
    "DEQUANTIZE/FLOAT16": "float16 weights",
}


def file_contents(constant_bytes: dict, total: int) -> str:
    """What a converted file's bytes are, largest first: "bit-packed binary convolutions 166 KB, …".

    Args:
        constant_bytes: `flatbuffer.inspect(fb)["constant_bytes"]`, stored bytes per op type.
        total: the file's size; what no op reads (tables, names, signatures) is the rest.

    Returns:
        One line for a report.
    """
    parts = collections.Counter()
    for op, n in constant_bytes.items():
        parts[_STORED.get(op, "other ops' constants")] += n
    parts["the flatbuffer's tables and names"] = total - sum(constant_bytes.values())
    return ", ".join(f"{name} {n / 1000:,.0f} KB" for name, n in parts.most_common() if n >= 500)


def targets_met(
    exits,
    stages,
    performance,
    early_exit_targets,
    streaming,
    model_bytes,
    embedding_bytes,
    device=None,
    contents=None,
    baseline=None,
):
    """The early-exit issue's targets, each with its measured value, its limit, whether it is met and,
    when it is not, why, in the run's own figures.

    Sizes are decimal (100 KB = 100,000 bytes); the early-exit figure is the cross-validated one; `device`
    (`device_estimate`) adds the same early-exit target on a device's estimated latencies; `contents`
    ({"model.tflite": line, "embedding.tflite": line} from `file_contents`) says what a file too large holds;
    `baseline` (`_baseline`'s section) adds the early exit against the int8 baseline, here and on the device
    estimate: met when the early exit is at least as accurate at no more than the baseline's latency.
    """
    last = exits[-1]
    contents = contents or {}
    cv = early_exit_targets.get("within_1pct", {}).get("cross_validated", {})
    fe_ms = performance.get("frontend_clip_ms")
    rows = []

    def add(name, value, limit, met, note="", why=""):
        rows.append(
            {"target": name, "value": value, "limit": limit, "met": bool(met), "note": note, "why": "" if met else why}
        )

    def early_why(first, accuracy):
        if first > 0.5:
            return f"exit 1 alone costs {first:.2f}x the last exit, so no threshold gets under 0.5x"
        if accuracy < last["accuracy"] - 0.01:
            return "the threshold chosen on one half of the test clips is more than 1 point off on the other"
        return (
            f"exit 1 scores {exits[0]['accuracy']:.3f} against the last exit's {last['accuracy']:.3f}: most clips "
            "need a later exit to stay within 1 point"
        )

    def frontend_why(fe, exit1):
        return f"the front end, which every exit pays, is {fe:.2f} ms of exit 1's {exit1:.2f} ms"

    first = exits[0]["latency_ms"] / last["latency_ms"]
    if cv.get("accuracy") is not None and last.get("accuracy") is not None:
        ratio = cv["mean_latency_ms"] / last["latency_ms"]
        add(
            "early exit within 1 point of the last exit (cross-validated), mean latency / last exit",
            ratio,
            0.5,
            ratio <= 0.5 and cv["accuracy"] >= last["accuracy"] - 0.01,
            f"accuracy {cv['accuracy']:.3f} vs last exit {last['accuracy']:.3f}",
            early_why(first, cv["accuracy"]),
        )
    dcv = (device or {}).get("cross_validated", {}).get("within_1pct", {})
    if dcv.get("mean_latency_ms") is not None:
        ratio = dcv["mean_latency_ms"] / device["exits_ms"][-1]
        add(
            f"the same on the {device['device']} estimate",
            ratio,
            0.5,
            ratio <= 0.5 and dcv["accuracy"] >= last["accuracy"] - 0.01,
            f"accuracy {dcv['accuracy']:.3f}; estimated, not measured",
            early_why(device["exit_over_last_exit"][0], dcv["accuracy"]),
        )
    add(
        "exit 1 latency / last exit",
        first,
        0.30,
        first <= 0.30,
        why=frontend_why(fe_ms, exits[0]["latency_ms"]) if fe_ms else "",
    )
    if device:
        add(
            f"exit 1 / last exit on the {device['device']} estimate",
            device["exit_over_last_exit"][0],
            0.30,
            device["exit_over_last_exit"][0] <= 0.30,
            "estimated, not measured",
            frontend_why(device["frontend_ms"], device["exits_ms"][0]),
        )
    fe = performance.get("frontend_over_last_exit")
    if fe is not None:
        add(
            "front end (whole clip) / last exit",
            fe,
            0.15,
            fe <= 0.15,
            f"{fe_ms:.3f} ms",
            f"the binary sections after it take only {last['latency_ms'] - fe_ms:.2f} ms",
        )
    if device:
        share = device["frontend_over_last_exit"]
        add(
            f"front end / last exit on the {device['device']} estimate",
            share,
            0.15,
            share <= 0.15,
            "estimated, not measured",
            f"the binary sections after it take only {device['exits_ms'][-1] - device['frontend_ms']:.2f} ms there"
            + (
                " (LCE's ARM kernels speed up the binary convolutions more than the float front end)"
                if fe is not None and share > fe
                else ""
            ),
        )
    share = streaming["clip_stage1_share"]
    add(
        "stage 1 share of the chain (clip model, front end inside)",
        share,
        0.30,
        share <= 0.30,
        why=f"stage 1 recomputes the front end ({fe_ms:.2f} ms) for every clip; the streaming files compute it "
        f"once per hop (stage 1 share there {streaming['stage1_share']:.2f})"
        if fe_ms
        else "",
    )
    binary = [s.get("binary_macs", 0) for s in stages]
    add(
        "stage 1 share of the chain (streaming: stage 1 from log-mel frames)",
        streaming["stage1_share"],
        0.30,
        streaming["stage1_share"] <= 0.30,
        why=f"section 1 holds {binary[0] / sum(binary):.0%} of the binary MACs" if sum(binary) else "",
    )
    ratio = performance.get("last_exit_over_float_reference")
    if ratio is not None:
        add(
            "LCE last exit / float reference (XNNPACK)",
            ratio,
            0.4,
            ratio <= 0.4,
            why=(
                f"the float front end ({fe_ms:.2f} ms) runs alike in both and is {fe_ms / last['latency_ms']:.0%} "
                "of the LCE last exit; "
                if fe_ms
                else ""
            )
            + "LCE's binary kernels here are its portable C++ ones (its optimised kernels are 64-bit ARM)",
        )
    device_ratio = (device or {}).get("last_exit_over_float_reference")
    if device_ratio is not None:  # where LCE's optimised binary kernels run
        binary_ms = sum(p["binary"] for p in device["stage_parts_ms"])
        add(
            f"LCE last exit / float reference on the {device['device']} estimate (estimated, not measured)",
            device_ratio,
            0.4,
            device_ratio <= 0.4,
            why=f"the parts that stay float or int8 take {device['exits_ms'][-1] - binary_ms:.2f} ms of the last "
            f"exit's {device['exits_ms'][-1]:.2f} ms there, the binary convolutions {binary_ms:.2f} ms",
        )
    if baseline and baseline.get("accuracy") is not None:
        places = [("here", cv, baseline.get("latency_ms"))]
        if device:
            places.append((f"on the {device['device']} estimate", dcv, baseline.get("device_estimate_ms")))
        for where, ee, base_ms in places:
            if ee.get("accuracy") is None or not ee.get("mean_latency_ms") or not base_ms:
                continue
            gain, speed = ee["accuracy"] - baseline["accuracy"], ee["mean_latency_ms"] / base_ms
            faster = f" and {speed:.2f}x as fast" if speed > 1.0 else f", at {1 / speed:.2f}x the early exit's latency"
            add(
                f"early exit accuracy minus the int8 {baseline['name']}'s, {where} (cross-validated)",
                gain,
                0.0,
                gain >= 0 and speed <= 1.0,
                f"{ee['accuracy']:.3f} at {ee['mean_latency_ms']:.2f} ms vs {baseline['accuracy']:.3f} at "
                f"{base_ms:.2f} ms",
                (
                    f"the int8 {baseline['name']} is {-100 * gain:.1f} points more accurate{faster}"
                    if gain < 0
                    else f"the early exit is {100 * gain:.1f} points more accurate but takes {speed:.2f}x the latency"
                ),
            )
    stage_bytes = sum(s["bytes"] for s in stages)
    add("model.tflite bytes", model_bytes, 100_000, model_bytes <= 100_000, why=contents.get("model.tflite", ""))
    add(
        "stages/ bytes together",
        stage_bytes,
        100_000,
        stage_bytes <= 100_000,
        why=f"the stages hold model.tflite's weights, cut at the exits ({model_bytes:,} bytes in one file)",
    )
    add(
        "embedding.tflite bytes",
        embedding_bytes,
        1_000_000,
        embedding_bytes <= 1_000_000,
        why=contents.get("embedding.tflite", ""),
    )
    return rows


def _choose_thresholds(made, validation, probs, test, stage_ms, exits):
    """Each target's threshold, chosen on the validation clips and scored on the test clips (which
    never chose it); without validation clips, chosen on the test clips (said in `chosen_on`)."""
    if validation is not None and len(validation):
        val = benchmark.score_exits(made.files.exits, validation, validation.labels)
        val_probs = [v.pop("probs") for v in val]
        picked = calibrate.choose(calibrate.sweep(val_probs, validation.labels, stage_ms), val[-1]["accuracy"])
        chosen = {}
        for name, c in picked.items():
            on_test = calibrate.simulate(probs, test.labels, stage_ms, c["threshold"]) if len(test) else {}
            on_test.pop("exits", None)
            chosen[name] = {
                **c,
                **on_test,
                "description": c["description"],
                "chosen_on": f"validation ({len(validation)} clips)",
                "on_validation": {
                    "accuracy": c["accuracy"],
                    "mean_latency_ms": c["mean_latency_ms"],
                    "last_exit_accuracy": val[-1]["accuracy"],
                },
            }
        log.info(
            f"early exit: thresholds chosen on {len(validation)} validation clips, scored on {len(test)} test clips"
        )
        return chosen
    if len(test):
        log.warning(
            "warning: no validation clips (--calibration-fraction 0 and none listed): early-exit thresholds "
            "are chosen on the test clips; the cross-validated figures are the honest ones"
        )
        chosen = calibrate.choose(calibrate.sweep(probs, test.labels, stage_ms), exits[-1]["accuracy"])
        return {k: {**v, "chosen_on": "test"} for k, v in chosen.items()}
    log.warning("warning: no test clips: early-exit thresholds are not calibrated (the last exit answers)")
    return calibrate.last_exit_only(len(exits), "no test clips")


def _noise(target, last, clips):
    """How the target's accuracy compares with the last exit's, against one standard error on `clips`."""
    se = spread.standard_error(last["accuracy"], clips)
    diff = None if target["accuracy"] is None or last["accuracy"] is None else target["accuracy"] - last["accuracy"]
    return {
        "test_clips": clips,
        "last_exit_standard_error": se,
        "accuracy_minus_last_exit": diff,
        "within_noise": se is not None and diff is not None and abs(diff) <= se,
        "note": f"one standard error of the last exit's accuracy on {clips} test clips is "
        f"{100 * (se or 0):.1f} points; a difference within it is not a measured gain or loss",
    }
