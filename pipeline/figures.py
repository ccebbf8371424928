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
from typing import List

from export import benchmark, vectors
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

    def section(self):
        return dataclasses.asdict(self)


def measure(model, made, corpus, targets, layout, runs=50) -> Figures:
    test = corpus.test
    log.info(f"benchmark: LCE interpreter, 1 thread, median of {runs} runs per exit and stage, float reference "
             "on stock TFLite, all timed round-robin")
    exits = benchmark.score_exits(made.files.exits, test.audio, test.labels, targets.test, root=layout.root)
    ms = benchmark.latencies(made.files.exits, made.files.stages, made.files.float_reference, test.audio, runs=runs)
    stage_ms, float_ms = ms["stages"], ms["float_reference"]
    for e, v in zip(exits, ms["exits"]):
        e["latency_ms"] = v
        log.info(f"exit {e['index']}: {v:.2f} ms, accuracy {fmt_value(e['accuracy'])}")
    probs = [e.pop("probs") for e in exits]
    for e in exits:  # how far an accuracy on this many clips can move by chance
        e["test_clips"] = len(test)
        e["accuracy_se"] = spread.standard_error(e["accuracy"], len(test))
    log.info(f"float reference (stock TFLite + XNNPACK, 1 thread): {float_ms:.2f} ms; LCE last exit: "
             f"{exits[-1]['latency_ms']:.2f} ms")
    if len(test):
        sweep = calibrate.sweep(probs, test.labels, stage_ms)
        chosen = calibrate.choose(sweep, exits[-1]["accuracy"])
    else:  # a task without test clips still ships, with the last exit always answering
        log.warning("warning: no test clips: early-exit thresholds are not calibrated (the last exit answers)")
        sweep, chosen = [], calibrate.last_exit_only(len(exits), "no test clips")
    calibrate.write_thresholds(layout, chosen, len(exits), int(test.audio.shape[1]))
    honest = calibrate.cross_validated(probs, test.labels, stage_ms)
    for name, c in chosen.items():
        h = honest[name]
        log.info(f"early exit '{name}': threshold {c['threshold']:.3f}, accuracy {fmt_value(c['accuracy'])}, "
                 f"mean latency {fmt_value(c['mean_latency_ms'], '.2f')} ms (cross-validated: "
                 + (f"{h['accuracy']:.3f}, {h['mean_latency_ms']:.2f} ms)" if h["accuracy"] is not None else
                    h["note"] + ")"))
    per_class = calibrate.per_class_exit(probs, test.labels, corpus.labels, chosen["within_1pct"]["threshold"])
    benchmark.write_pi_script(layout)
    vectors.write(layout.vectors, [p[:16] for p in probs], [0.0, chosen["within_1pct"]["threshold"], 0.5, 1.0])
    return Figures(
        exits=exits,
        stages=[{"index": k, "path": layout.relative(p), "latency_ms": v}
                for k, (p, v) in enumerate(zip(made.files.stages, stage_ms), 1)],
        float_reference={"latency_ms": float_ms, "path": layout.relative(made.files.float_reference),
                         "runtime": "stock TFLite + XNNPACK, 1 thread"},
        performance=benchmark.ratios(exits, float_ms),
        early_exit=sweep,
        early_exit_targets={k: {**v, "cross_validated": honest[k], "noise": _noise(v, exits[-1], len(test))}
                            for k, v in chosen.items()},
        early_exit_per_class_mean_exit=per_class,
        parity=benchmark.parity(model, made.flatbuffer, test.audio[:64]),
    )


def _noise(target, last, clips):
    """How the target's accuracy compares with the last exit's, against one standard error on `clips`."""
    se = spread.standard_error(last["accuracy"], clips)
    diff = None if target["accuracy"] is None or last["accuracy"] is None else target["accuracy"] - last["accuracy"]
    return {"test_clips": clips, "last_exit_standard_error": se, "accuracy_minus_last_exit": diff,
            "within_noise": se is not None and diff is not None and abs(diff) <= se,
            "note": f"one standard error of the last exit's accuracy on {clips} test clips is "
                    f"{100 * (se or 0):.1f} points; a difference within it is not a measured gain or loss"}

