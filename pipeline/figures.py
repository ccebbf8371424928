"""Stage 5, files → figures: latency and accuracy of every exit (LCE interpreter), stage
latencies, the float reference, Keras-vs-TFLite parity, and early-exit calibration
(thresholds.json, shared test vectors, the Raspberry Pi benchmark script).

```python
from pipeline import figures
figs = figures.measure(trained.model, made, corpus, targets, layout, runs=50)
figs.section()        # report.json: exits, stages, float_reference, performance, early_exit, ...
```
"""
import dataclasses
import logging
from typing import List, Optional

import numpy as np

from export import benchmark, clips, flatbuffer, stream, vectors
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
    float_twin: Optional[dict] = None

    def section(self):
        return dataclasses.asdict(self)


def measure(model, made, corpus, targets, layout, runs=50, twin_files=()) -> Figures:
    test = corpus.test
    log.info(f"benchmark: LCE interpreter, 1 thread, median of {runs} runs per exit and stage, float reference "
             "on stock TFLite, all timed round-robin")
    # `test` is a corpus.Split or a shards.StreamedSplit: read a batch at a time (export.clips), never whole
    exits = benchmark.score_exits(made.files.exits, test, test.labels, root=layout.root)
    full_heads = clips.keras_predict(model, test) if len(test) else None
    embedding = {**benchmark.score_embedding(made.files.embedding, test, targets.test, full_heads, layout.root),
                 "rank": made.embedding_rank}
    cosines = {e["index"]: e.get("cosine_to_teacher") for e in embedding["exits"]}
    settings = stream.read_settings(layout)
    hop_frames = settings["frames"] // 2  # a decision every half window, as `classify_long` and `listen` make them
    ms = benchmark.latencies(made.files.exits, made.files.stages, made.files.float_reference, test, runs=runs,
                             stream=(made.files.stream[0], made.files.stream[1], settings, hop_frames),
                             twin_files=twin_files)
    stage_ms, float_ms = ms["stages"], ms["float_reference"]
    for e, v in zip(exits, ms["exits"]):
        e["latency_ms"] = v
        e["embedding_cosine"] = cosines.get(e["index"])
        log.info(f"exit {e['index']}: {v:.2f} ms, accuracy {fmt_value(e['accuracy'])}")
    probs = [e.pop("probs") for e in exits]
    for e in exits:  # how far an accuracy on this many clips can move by chance
        e["test_clips"] = len(test)
        e["accuracy_se"] = spread.standard_error(e["accuracy"], len(test))
    log.info(f"float reference (stock TFLite + XNNPACK, 1 thread): {float_ms:.2f} ms; LCE last exit: "
             f"{exits[-1]['latency_ms']:.2f} ms")
    sweep = calibrate.sweep(probs, test.labels, stage_ms) if len(test) else []
    chosen = _choose_thresholds(made, corpus.validation, probs, test, stage_ms, exits)
    calibrate.write_thresholds(layout, chosen, len(exits), test.clip_samples)
    honest = calibrate.cross_validated(probs, test.labels, stage_ms)
    for name, c in chosen.items():
        h = honest[name]
        log.info(f"early exit '{name}': threshold {c['threshold']:.3f} (chosen on {c.get('chosen_on', 'nothing')}), "
                 f"test accuracy {fmt_value(c['accuracy'])}, mean latency {fmt_value(c['mean_latency_ms'], '.2f')} ms "
                 "(2-fold cross-validated on test: "
                 + (f"{h['accuracy']:.3f}, {h['mean_latency_ms']:.2f} ms)" if h["accuracy"] is not None else
                    h["note"] + ")"))
    per_class = calibrate.per_class_exit(probs, test.labels, corpus.labels, chosen["within_1pct"]["threshold"])
    live = _streaming(ms, stage_ms, hop_frames, chosen["within_1pct"])
    log.info(f"stage 1 share of the chain: clip model {live['clip_stage1_share']:.2f}, streaming "
             f"{live['stage1_share']:.2f} (front end {ms['stream_frontend_hop']:.3f} ms per {hop_frames}-frame hop)")
    log.info(f"embedding.tflite: {embedding['bytes']:,} bytes, heads "
             f"{'rank ' + str(made.embedding_rank) if made.embedding_rank else 'full rank'}, cosine to the teacher "
             + ", ".join(f"exit {e['index']} {fmt_value(e.get('cosine_to_teacher'))} (full-rank head "
                         f"{fmt_value(e.get('full_rank_cosine_to_teacher'))})" for e in embedding["exits"]))
    benchmark.write_pi_script(layout)
    vectors.write(layout.vectors, [p[:16] for p in probs], [0.0, chosen["within_1pct"]["threshold"], 0.5, 1.0])
    stages = [{"index": k, "path": layout.relative(p), "latency_ms": v, **_ops(p)}
              for k, (p, v) in enumerate(zip(made.files.stages, stage_ms), 1)]
    performance = benchmark.ratios(exits, float_ms)
    early_exit_targets = {k: {**v, "cross_validated": honest[k], "noise": _noise(v, exits[-1], len(test))}
                          for k, v in chosen.items()}
    return Figures(
        exits=exits,
        stages=stages,
        float_reference={"latency_ms": float_ms, "path": layout.relative(made.files.float_reference),
                         "runtime": "stock TFLite + XNNPACK, 1 thread"},
        performance=performance,
        early_exit=sweep,
        early_exit_targets=early_exit_targets,
        early_exit_per_class_mean_exit=per_class,
        parity=benchmark.parity(model, made.flatbuffer, clips.head(test, 64)),
        embedding_model=embedding,
        streaming=live,
        targets=targets_met(exits, stages, performance, early_exit_targets, live, len(made.flatbuffer),
                            embedding["bytes"]),
        float_twin=_float_twin(twin_files, ms["float_twin"], exits, probs, test, layout) if twin_files else None,
    )


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
        gaps.append({"index": e["index"], "float_minus_binary": float(np.mean(d)) if len(d) else None,
                     "standard_error": float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None,
                     "test_clips": len(test)})
        log.info(f"float twin exit {t['index']}: {ms:.2f} ms (stock TFLite + XNNPACK), accuracy "
                 f"{fmt_value(t['accuracy'])}; binary {fmt_value(e['accuracy'])} ({e['latency_ms']:.2f} ms, LCE)")
    last = exits[-1]["latency_ms"] / twin[-1]["latency_ms"] if twin else None
    return {"exits": twin, "binarization_gap": gaps, "binary_last_exit_over_twin_last_exit": last,
            "runtime": "stock TFLite + XNNPACK, 1 thread, timed round-robin with the binary exits (LCE)",
            "note": "the same family, widths, exits, front end and recipe with every binary convolution "
                    "full-precision (students.float_twin), trained on the same clips and teacher targets; the "
                    "gap's standard error is paired (the same test clips)"}


def _streaming(ms, stage_ms, hop_frames, target):
    """The live runtime's costs: stage 1 from log-mel frames, the front end once per hop on its new frames.

    A decision every hop costs the stages it runs plus one front-end call on the hop's frames.
    """
    stages = [ms["stream_stage1"]] + list(stage_ms[1:])
    cum = np.cumsum(stages)
    frontend_per_hop = ms["stream_frontend_hop"]
    hist = target.get("exit_histogram") or []
    mean_stages = float(np.dot(hist, cum[:len(hist)]) / sum(hist)) if sum(hist) else None
    return {"stages_ms": stages,
            "stage1_share": stages[0] / float(np.sum(stages)), "clip_stage1_share": stage_ms[0] / float(np.sum(stage_ms)),
            "hop_frames": hop_frames, "frontend_per_hop_ms": frontend_per_hop,
            "early_exit_within_1pct_mean_ms": None if mean_stages is None else mean_stages + frontend_per_hop,
            "last_exit_ms": float(cum[-1]) + frontend_per_hop,
            "note": "stream/stage_1.tflite takes log-mel frames, which the live runtime computes once, in one "
                    "front-end call per hop on the hop's new frames (stream/frontend.tflite); a decision every half "
                    "window pays the stages it runs plus that call. The clip model (stages/) recomputes every "
                    "frame of the window in stage 1"}


def _ops(path):
    """What a stage file computes: bytes, float and binary MACs and its op counts (what an ARM device's
    latency follows, where x86's portable kernels do not)."""
    with open(path, "rb") as f:
        fb = f.read()
    info = flatbuffer.inspect(fb)
    return {"bytes": len(fb), "macs": info["total_macs"], "binary_macs": info["binary_macs"],
            "float_macs": info["total_macs"] - info["binary_macs"], "op_counts": info["op_counts"]}


def targets_met(exits, stages, performance, early_exit_targets, streaming, model_bytes, embedding_bytes):
    """The early-exit issue's targets, each with its measured value, its limit and whether it is met.

    Sizes are decimal (300 KB = 300,000 bytes); the early-exit figure is the cross-validated one.
    """
    last = exits[-1]
    cv = early_exit_targets.get("within_1pct", {}).get("cross_validated", {})
    rows = []

    def add(name, value, limit, met, note=""):
        rows.append({"target": name, "value": value, "limit": limit, "met": bool(met), "note": note})
    if cv.get("accuracy") is not None and last.get("accuracy") is not None:
        ratio = cv["mean_latency_ms"] / last["latency_ms"]
        add("early exit within 1 point of the last exit (cross-validated), mean latency / last exit", ratio, 0.5,
            ratio <= 0.5 and cv["accuracy"] >= last["accuracy"] - 0.01,
            f"accuracy {cv['accuracy']:.3f} vs last exit {last['accuracy']:.3f}")
    share = streaming["clip_stage1_share"]
    add("stage 1 share of the chain (clip model, front end inside)", share, 0.30, share <= 0.30)
    add("stage 1 share of the chain (streaming: stage 1 from log-mel frames)", streaming["stage1_share"], 0.30,
        streaming["stage1_share"] <= 0.30)
    ratio = performance.get("last_exit_over_float_reference")
    if ratio is not None:
        add("LCE last exit / float reference (XNNPACK)", ratio, 0.5, ratio <= 0.5)
    stage_bytes = sum(s["bytes"] for s in stages)
    add("model.tflite bytes", model_bytes, 300_000, model_bytes <= 300_000)
    add("stages/ bytes together", stage_bytes, 300_000, stage_bytes <= 300_000)
    add("embedding.tflite bytes", embedding_bytes, 1_000_000, embedding_bytes <= 1_000_000)
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
            chosen[name] = {**c, **on_test, "description": c["description"],
                            "chosen_on": f"validation ({len(validation)} clips)",
                            "on_validation": {"accuracy": c["accuracy"], "mean_latency_ms": c["mean_latency_ms"],
                                              "last_exit_accuracy": val[-1]["accuracy"]}}
        log.info(f"early exit: thresholds chosen on {len(validation)} validation clips, scored on {len(test)} "
                 "test clips")
        return chosen
    if len(test):
        log.warning("warning: no validation clips (--calibration-fraction 0 and none listed): early-exit thresholds "
                    "are chosen on the test clips; the cross-validated figures are the honest ones")
        chosen = calibrate.choose(calibrate.sweep(probs, test.labels, stage_ms), exits[-1]["accuracy"])
        return {k: {**v, "chosen_on": "test"} for k, v in chosen.items()}
    log.warning("warning: no test clips: early-exit thresholds are not calibrated (the last exit answers)")
    return calibrate.last_exit_only(len(exits), "no test clips")


def _noise(target, last, clips):
    """How the target's accuracy compares with the last exit's, against one standard error on `clips`."""
    se = spread.standard_error(last["accuracy"], clips)
    diff = None if target["accuracy"] is None or last["accuracy"] is None else target["accuracy"] - last["accuracy"]
    return {"test_clips": clips, "last_exit_standard_error": se, "accuracy_minus_last_exit": diff,
            "within_noise": se is not None and diff is not None and abs(diff) <= se,
            "note": f"one standard error of the last exit's accuracy on {clips} test clips is "
                    f"{100 * (se or 0):.1f} points; a difference within it is not a measured gain or loss"}

