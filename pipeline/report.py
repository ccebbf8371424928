"""report.json, report.md and tradeoff.png from the figures of a run.

```python
from pipeline import report
from export.layout import Layout
report.write(Layout(out_dir), r)    # r: the report dict (keys: README "What a run writes")
report.read(Layout(out_dir))        # report.json back as a dict ({} when there is none)
```
"""

import json
import os

from matplotlib.figure import Figure  # pyplot-free: no backend is chosen, a notebook's stays as it was

from export.files import atomic_write


def fmt_value(v, spec=".3f"):
    """A number for a table or a log line, "n/a" for None."""
    return "n/a" if v is None else format(v, spec)


def markdown(r):
    t, s, m, d = r["teacher"], r["student"], r["model"], r["data"]
    lines = [f"# Run report: {r.get('run_name', '')}", ""]
    if t.get("stand_in"):
        lines += [
            "> **Stand-in teacher.** TRILLsson was not used: the teacher is a float model with "
            "TRILLsson's interface built by this run (fixed random convolutional features of the log-mel "
            "spectrogram). "
            "Accuracy figures say how well the student copies *that* teacher.",
            "",
        ]
    lines += [
        f"- teacher: `{t['handle']}` (stand-in: {t['stand_in']}), embedding {t['embedding_dim']}-d, "
        f"{t['clips_embedded']} clips embedded, {t['cache_hits']} cache hits",
        f"- student: `{s['family']}`, {s['exits']} exits, {s['params']:,} parameters",
        f"- data: {d['clips']} clips, {len(d['labels'])} labels, {len(d['skipped'])} skipped",
        f"- model: `{m['path']}`, {m['bytes']:,} bytes, binary MAC fraction {m['binary_mac_fraction']:.3f}",
        "",
    ]
    if "benchmark" in r["teacher"]:  # the embedding cache at work: no teacher calls once every clip is embedded
        b = r["teacher"]["benchmark"]
        secs = b["epoch_seconds"]
        lines += [
            "**Teacher benchmark:** teacher calls during distillation (after the first pass): "
            f"{b['teacher_calls_after_first_pass']}; epoch wall time "
            + (
                f"{secs[0]:.1f} s (epoch 1), {secs[1]:.1f} s (epoch 2)"
                if len(secs) > 1
                else f"{secs[0]:.1f} s (epoch 1)"
                if secs
                else "n/a"
            )
            + (f", {sum(secs) / len(secs):.1f} s mean over {len(secs)} epochs" if len(secs) > 2 else "")
            + f"; {r['teacher'].get('teacher_calls', 0)} teacher calls to embed "
            f"{r['teacher'].get('clips_embedded', 0)} clips.",
            "",
        ]
    mode = s.get("training_mode", "deterministic")
    lines += [
        f"Training mode: **{mode}**"
        + (
            " (the same seed on this machine gives the same weights and figures)"
            if mode == "deterministic"
            else " (fast, not repeatable: two runs with one seed differ)"
        )
        + f"; seed {r.get('seed', r.get('settings', {}).get('seed'))}. "
        + (
            "Figures below are one draw: see the spread over seeds."
            if "repeats" in r
            else "Figures below are **one training run**: `--repeats N` gives their spread over seeds."
        ),
        "",
    ]
    lines += [
        "| exit | file | bytes | LCE latency (ms) | accuracy ± 1 SE (test clips) | embedding cosine |",
        "|---|---|---|---|---|---|",
    ]
    for e in r["exits"]:
        se = f" ± {e['accuracy_se']:.3f} ({e['test_clips']})" if e.get("accuracy_se") is not None else ""
        lines.append(
            f"| {e['index']} | `{e['path']}` | {e['bytes']:,} | {fmt_value(e['latency_ms'])} | "
            f"{fmt_value(e['accuracy'])}{se} | {fmt_value(e['embedding_cosine'])} |"
        )
    lines += _repeats(r)
    lines += _targets(r)
    lines += _float_twin(r)
    lines += _baseline(r)
    lines += _embedding(r)
    lines += _deployment(r)
    if "parity" in r:
        lines += [
            "",
            f"Parity Keras vs LCE TFLite on {r['parity'].get('clips', 'the')} test clips: worst absolute "
            f"difference {r['parity']['max_abs_diff']:.2e} (over every exit's probabilities), "
            f"top-1 agreement {r['parity'].get('top1_agreement', 0):.3f} (worst exit). A binary network "
            "amplifies float rounding where a pre-activation is near zero and its sign flips, so "
            "differences grow with depth; agreement of the decisions is the figure to watch.",
        ]
    if d["skipped"]:
        lines += ["", "## Skipped files", ""] + [f"- `{x['path']}`: {x['reason']}" for x in d["skipped"]]
    lines += [
        "",
        "Latency: median of repeated single-clip runs with LCE's interpreter, 1 thread, on the machine "
        "that ran the pipeline (x86 runs LCE's portable kernels; a Raspberry Pi runs its ARM ones).",
    ]
    return "\n".join(lines) + "\n"


def _repeats(r):
    """The spread over seeds (`--repeats N`)."""
    rep = r.get("repeats")
    if not rep:
        return []
    from pipeline.spread import fmt

    lines = [
        "",
        f"## Spread over {len(rep['seeds'])} seeds {rep['seeds']} ({rep['test_clips']} test clips)",
        "",
        "| exit | accuracy mean ± sd | per seed | embedding cosine mean ± sd |",
        "|---|---|---|---|",
    ]

    def per_seed(s):
        return ", ".join(f"{v:.3f}" for v in s["values"])

    for e in rep["exits"]:
        lines.append(
            f"| {e['index']} | {fmt(e['accuracy'])} | {per_seed(e['accuracy'])} | {fmt(e['embedding_cosine'])} |"
        )
    for name, t in rep.get("early_exit_targets", {}).items():
        cv = t["cross_validated"]
        lines.append(
            f"| early exit {name}, cross-validated | {fmt(cv['accuracy'])} at "
            f"{fmt(cv['mean_latency_ms'], '.2f')} ms | {per_seed(cv['accuracy'])} | |"
        )
    b = rep.get("baseline")
    if b:
        lines.append(
            f"| int8 {b['name']} baseline | {fmt(b['accuracy'])} at {fmt(b['latency_ms'], '.2f')} ms"
            f" (its float network: {fmt(b['float_accuracy'])}) | {per_seed(b['accuracy'])} | |"
        )
    for e in (rep.get("float_twin") or {}).get("exits", []):
        lines.append(
            f"| float twin exit {e['index']} (float minus binary: {fmt(e['float_minus_binary'])}) | "
            f"{fmt(e['accuracy'])} | {per_seed(e['accuracy'])} | |"
        )
    for task, t in rep.get("eval", {}).items():
        lines.append(
            f"| probe {task}: teacher {fmt(t['teacher'])}, baseline {fmt(t['baseline'])} | "
            + "; ".join(f"exit {k} {fmt(s)}" for k, s in enumerate(t["exits"], 1))
            + " | | |"
        )
    lines += ["", f"Thresholds are calibrated per seed. Shipped: seed {rep['shipped_seed']}, {rep['shipped_rule']}."]
    return lines


def _table(title, header, rows):
    """A report section: a "## title" and a markdown table of `header` (cells) and `rows` (lists of cells)."""
    return ["", f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(c) for c in row) + " |" for row in rows
    ]


def _targets(r):
    rows = r.get("targets")
    if not rows:
        return []

    def fmt(v):
        return f"{v:,}" if isinstance(v, int) else f"{v:.2f}"

    return _table(
        "Targets (early-exit issue)",
        ["target", "measured", "limit", "met", "why not (this run's figures)"],
        [
            [
                t["target"] + (f" ({t['note']})" if t.get("note") else ""),
                fmt(t["value"]),
                fmt(t["limit"]),
                "yes" if t["met"] else "**no**",
                t.get("why") or "",
            ]
            for t in rows
        ],
    )


def _float_twin(r):
    ft = r.get("float_twin")
    if not ft:
        return []

    def gap(g):
        if g["float_minus_binary"] is None:
            return "n/a"
        return f"{100 * g['float_minus_binary']:+.1f} ± {100 * (g['standard_error'] or 0):.1f} points"

    lines = _table(
        "Float twin: what binarization costs",
        [
            "exit",
            "binary accuracy",
            "float twin accuracy",
            "gap (float − binary) ± 1 SE, paired",
            "binary latency (LCE, ms)",
            "twin latency (XNNPACK, ms)",
            "twin bytes",
        ],
        [
            [
                e["index"],
                fmt_value(e["accuracy"]),
                fmt_value(t["accuracy"]),
                gap(g),
                fmt_value(e["latency_ms"]),
                fmt_value(t["latency_ms"]),
                f"{t['bytes']:,}",
            ]
            for e, t, g in zip(r["exits"], ft["exits"], ft["binarization_gap"])
        ],
    )
    lines += [
        "",
        f"{ft['note']}; {ft['binarization_gap'][0]['test_clips']} test clips. Binary last exit over the "
        f"twin's last exit: {fmt_value(ft['binary_last_exit_over_twin_last_exit'], '.2f')} "
        f"({ft['runtime']}).",
    ]
    return lines


def _baseline(r):
    """The int8 baseline beside the binary student (same labels, front end and test clips)."""
    b = r.get("baseline")
    if not b:
        return []
    cv = (r.get("early_exit_targets", {}).get("within_1pct") or {}).get("cross_validated") or {}
    se = f" ± {b['accuracy_se']:.3f}" if b.get("accuracy_se") is not None else ""
    lines = [
        "",
        f"## Baseline: int8 {b['name']} ({b['runtime']})",
        "",
        f"`{b['path']}`: {b['bytes']:,} bytes, {b['params']:,} parameters, {b['macs'] / 1e6:.2f} M MACs, "
        "front-end "
        f"hop {b['hop_ms']:g} ms. Accuracy {fmt_value(b['accuracy'])}{se} ({b['test_clips']} test clips"
        + (
            f"; the float network before quantization, `{b['float_path']}`: {fmt_value(b['float_accuracy'])})"
            if b.get("float_path")
            else ")"
        )
        + "; "
        f"{fmt_value(b['latency_ms'])} ms here (timed round-robin with the exits), "
        f"{b['device_estimate_ms']:.3f} ms estimated on the device below.",
    ]
    if b.get("early_exit_minus_baseline") is not None:
        lines += [
            "",
            f"Early exit within 1 point (cross-validated): {fmt_value(cv.get('accuracy'))} at "
            f"{fmt_value(cv.get('mean_latency_ms'))} ms, "
            f"**{100 * b['early_exit_minus_baseline']:+.1f} points** "
            f"against the baseline at {fmt_value(b['early_exit_over_baseline_latency'], '.2f')}x its latency "
            "here"
            + (
                f", {b['device_early_exit_over_baseline_latency']:.2f}x on the device estimate"
                if b.get("device_early_exit_over_baseline_latency")
                else ""
            )
            + ".",
        ]
    return lines


def _embedding(r):
    """The embedding model: size, heads, cosine to the teacher against full-rank float heads."""
    e = r.get("embedding_model")
    if not e:
        return []
    heads = f"rank-{e['rank']} factorised float heads" if e.get("rank") else "full-rank float heads"
    if e.get("int8_weights"):
        heads += ", their weights stored as int8"
    if e.get("ensemble"):
        heads += "; exit k's embedding is the mean of the heads of exits 1..k"
    return _table(
        f"Embedding model: `{e['path']}`, {e['bytes']:,} bytes ({heads})",
        ["exit", "dim", f"cosine to the teacher ({e['clips']} test clips)", "with full-rank heads"],
        [
            [
                x["index"],
                x["dim"],
                fmt_value(x.get("cosine_to_teacher")),
                fmt_value(x.get("full_rank_cosine_to_teacher")),
            ]
            for x in e["exits"]
        ],
    )


def _streaming(r):
    s = r.get("streaming")
    if not s:
        return []
    return [
        "",
        "## Live (streaming) costs",
        "",
        f"Stages from log-mel frames (ms): {', '.join(fmt_value(v) for v in s['stages_ms'])}; stage 1 is "
        f"**{100 * s['stage1_share']:.0f} %** of the chain (the clip model's stage 1, which computes the whole "
        f"window's front end: {100 * s['clip_stage1_share']:.0f} %). "
        f"Front end: {fmt_value(s['frontend_per_hop_ms'])} ms "
        f"per decision, one call on the {s['hop_frames']} new frames of each hop. Per "
        f"decision: last exit {fmt_value(s['last_exit_ms'])} ms, early exit (within_1pct) "
        f"{fmt_value(s['early_exit_within_1pct_mean_ms'])} ms.",
        "",
        s["note"] + ".",
    ]


def _device_estimate(r):
    """What a device would do: estimated stage latencies, the front end's part, early exit on them."""
    d = r.get("device_estimate")
    if not d:
        return []
    cv = d.get("cross_validated", {}).get("within_1pct", {})
    rates = d["rates"]
    lines = [
        "",
        f"## What a {d['device']} would do (estimated)",
        "",
        "| stage | estimate (ms) | binary | float GEMM | depthwise | FFT | elementwise | log/sqrt | dispatch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k, (ms, parts) in enumerate(zip(d["stages_ms"], d["stage_parts_ms"]), 1):
        lines.append(
            f"| {k} | {ms:.3f} | "
            + " | ".join(
                f"{parts[p]:.3f}"
                for p in ("binary", "float", "depthwise", "fft", "elementwise", "transcendental", "overhead")
            )
            + " |"
        )
    lines += [
        "",
        f"Exits (ms): {', '.join(f'{v:.3f}' for v in d['exits_ms'])}; each over the last exit: "
        f"{', '.join(f'{v:.2f}' for v in d['exit_over_last_exit'])}. Front end: {d['frontend_ms']:.3f} ms, "
        f"{100 * d['frontend_over_last_exit']:.0f} % of the last exit."
        + (
            f" The float reference (every binary convolution float, stock TFLite): {d['float_reference_ms']:.3f} ms; "
            f"the LCE last exit is {d['last_exit_over_float_reference']:.2f}x of it."
            if d.get("float_reference_ms")
            else ""
        ),
    ]
    if cv.get("mean_latency_ms") is not None:
        lines += [
            "",
            "Early exit within 1 point, cross-validated on these latencies: "
            f"accuracy {cv['accuracy']:.3f} at "
            f"{cv['mean_latency_ms']:.3f} ms, **{cv['mean_latency_ms'] / d['exits_ms'][-1]:.2f}x** the last "
            "exit.",
        ]
    lines += [
        "",
        f"Rates assumed ({d['note']}): binary {rates['binary_macs_per_cycle']:g} MACs/cycle, float GEMM "
        f"{rates['float_macs_per_cycle']:g}, depthwise {rates['depthwise_macs_per_cycle']:g}, FFT "
        f"{rates['fft_macs_per_cycle']:g}, elementwise {rates['elements_per_cycle']:g} element/cycle, "
        "log/sqrt "
        f"{rates['transcendental_cycles']:g} cycles/element, {rates['op_overhead_s'] * 1e6:g} us per op, at "
        f"{rates['clock_hz'] / 1e9:g} GHz. Why: " + "; ".join(rates.get("notes", ())) + ".",
    ]
    return lines


def _deployment(r):
    """Stages, float reference, ratios, early exit and device figures (when present)."""
    lines = []
    if r.get("stages"):
        lines += [
            "",
            "| stage | file | bytes | LCE latency (ms) | binary MACs | float MACs | ops |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {s['index']} | `{s['path']}` | {s.get('bytes', 0):,} | {fmt_value(s['latency_ms'])} | "
            f"{s.get('binary_macs', 0) / 1e6:.2f} M | {s.get('float_macs', 0) / 1e6:.2f} M | "
            + ", ".join(f"{k} {v}" for k, v in sorted(s.get("op_counts", {}).items(), key=lambda kv: -kv[1]))
            + " |"
            for s in r["stages"]
        ]
    lines += _streaming(r)
    lines += _device_estimate(r)
    if r.get("float_reference"):
        f, p = r["float_reference"], r.get("performance", {})
        lines += [
            "",
            f"Float reference (same network, {f.get('runtime', 'stock TFLite')}): "
            f"{fmt_value(f['latency_ms'])} ms. Last exit with LCE over float reference: "
            f"{fmt_value(p.get('last_exit_over_float_reference'), '.2f')}; each exit over the last exit: "
            + ", ".join(fmt_value(v, ".2f") for v in p.get("exit_over_last_exit", []))
            + " (measured side by side, one process).",
        ]
    if r.get("early_exit_targets"):
        lines += [
            "",
            "## Early exit",
            "",
            "| target | threshold | accuracy | mean latency (ms) | exits used | "
            "cross-validated accuracy | cross-validated latency (ms) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, t in r["early_exit_targets"].items():
            cv = t.get("cross_validated", {})
            lines.append(
                f"| {name} ({t.get('description', '')}) | {t['threshold']:.3f} | {fmt_value(t['accuracy'])} | "
                f"{fmt_value(t['mean_latency_ms'])} | {t['exit_histogram']} | "
                f"{fmt_value(cv.get('accuracy'))} | "
                f"{fmt_value(cv.get('mean_latency_ms'))} |"
            )
        last = r["exits"][-1]
        noise = next(iter(r["early_exit_targets"].values())).get("noise", {})
        if noise:
            lines += ["", f"Noise: {noise['note']}."]
        chosen_on = next(iter(r["early_exit_targets"].values())).get("chosen_on", "test")
        where = (
            "chosen on the " + chosen_on + " and scored on the test clips, which never chose them"
            if chosen_on != "test"
            else "chosen on the test clips themselves (no validation clips)"
        )
        lines += [
            "",
            f"Last exit alone: accuracy {fmt_value(last['accuracy'])}, {fmt_value(last['latency_ms'])} ms. "
            f"Thresholds (thresholds.json) are {where}; the cross-validated columns choose them on one half "
            "of the test clips and score the other.",
        ]
    if r.get("early_exit_per_class_mean_exit"):
        pc = r["early_exit_per_class_mean_exit"]
        lines += [
            "",
            "Mean exit index per class at the default threshold (higher = harder): "
            + ", ".join(f"{k} {v:.2f}" for k, v in sorted(pc.items(), key=lambda kv: kv[1])),
        ]
    for device, figs in r.get("lce_benchmark", {}).items():
        lines += [
            "",
            f"## lce_benchmark_model on {device}",
            "",
            "| file | latency (ms) | memory (MB) |",
            "|---|---|---|",
        ]
        if "exits_ms" in figs:  # figures of `brillsson benchmark OUT` here
            rows = [(f"exits/exit_{i}.tflite", {"latency_ms": v}) for i, v in enumerate(figs["exits_ms"], 1)]
            rows += [(f"stages/stage_{i}.tflite", {"latency_ms": v}) for i, v in enumerate(figs["stages_ms"], 1)]
        else:
            rows = list(figs.items())
        for f, v in rows:
            lines.append(
                f"| `{f}` | {fmt_value(v.get('latency_ms'))} | {fmt_value(v.get('memory_overall_mb'), '.1f')} |"
                if "error" not in v
                else f"| `{f}` | failed: {v['error']} | |"
            )
    return lines


def plot_tradeoff(r, path):
    ex = [e for e in r["exits"] if e.get("accuracy") is not None]  # none without test clips
    per_class = r.get("early_exit_per_class_mean_exit") or {}
    fig = Figure(figsize=(10.5 if per_class else 5.5, 5.2))
    axes = fig.subplots(1, 2 if per_class else 1, gridspec_kw={"width_ratios": [3, 2]} if per_class else None)
    ax = axes[0] if per_class else axes
    ax.plot([e["latency_ms"] for e in ex], [e["accuracy"] for e in ex], "o-", label="exit k alone")
    rep = r.get("repeats")
    if rep:  # every seed's exits, and mean ± sd
        for e, s in zip(ex, rep["exits"]):
            ax.plot(
                [e["latency_ms"]] * len(s["accuracy"]["values"]), s["accuracy"]["values"], ".", color="grey", alpha=0.6
            )
            ax.errorbar(
                e["latency_ms"],
                s["accuracy"]["mean"],
                yerr=s["accuracy"]["sd"],
                fmt="s",
                color="black",
                capsize=4,
                ms=4,
                label=f"mean ± sd over {len(rep['seeds'])} seeds" if e is ex[0] else None,
            )
    for e in ex:
        ax.annotate(f"exit {e['index']}", (e["latency_ms"], e["accuracy"]), textcoords="offset points", xytext=(5, -10))
    twin = [t for t in (r.get("float_twin") or {}).get("exits", []) if t.get("accuracy") is not None]
    twin_rep = (rep or {}).get("float_twin", {}).get("exits", [])
    if twin and len(twin_rep) == len(twin):  # the twin's exits over the seeds too
        ax.errorbar(
            [t["latency_ms"] for t in twin],
            [s["accuracy"]["mean"] for s in twin_rep],
            yerr=[s["accuracy"]["sd"] for s in twin_rep],
            fmt="none",
            ecolor="tab:red",
            capsize=3,
            alpha=0.8,
        )
    if twin:  # what the same network scores with full-precision convolutions (its latency: XNNPACK float)
        ax.plot(
            [t["latency_ms"] for t in twin],
            [t["accuracy"] for t in twin],
            "d--",
            color="tab:red",
            alpha=0.8,
            label="float twin (XNNPACK)",
        )
    base = r.get("baseline") or {}
    if base.get("accuracy") is not None and base.get("latency_ms"):  # what a user would pick instead
        seeds = (rep or {}).get("baseline")  # over the seeds: mean ± sd; one run: its accuracy ± one standard error
        ax.errorbar(
            base["latency_ms"],
            seeds["accuracy"]["mean"] if seeds else base["accuracy"],
            yerr=(seeds["accuracy"]["sd"] if seeds else base.get("accuracy_se")) or 0,
            fmt="X",
            ms=10,
            color="teal",  # outside the default colour cycle the targets' markers take
            capsize=3,
            label=f"int8 {base['name']} baseline (stock TFLite)"
            + (f", mean ± sd over {seeds['accuracy']['n']} seeds" if seeds else ", ± 1 s.e."),
        )
    if r.get("early_exit"):
        pts = sorted(r["early_exit"], key=lambda p: p["threshold"])
        ax.plot(
            [p["mean_latency_ms"] for p in pts],
            [p["accuracy"] for p in pts],
            "-",
            alpha=0.6,
            lw=1,
            label="early exit, threshold sweep",
        )
        for name, t in r.get("early_exit_targets", {}).items():
            if t.get("accuracy") is None:
                continue
            ax.plot(t["mean_latency_ms"], t["accuracy"], "*", ms=12, label=f"{name}: τ={t['threshold']:.2f}")
            cv = t.get("cross_validated") or {}
            if cv.get("accuracy") is not None:  # thresholds chosen on other clips than they are scored on
                line = ax.plot(
                    cv["mean_latency_ms"], cv["accuracy"], "P", ms=9, mfc="none", label=f"{name}, cross-validated"
                )[0]
                cvs = (rep or {}).get("early_exit_targets", {}).get(name, {}).get("cross_validated")
                if cvs and cvs["accuracy"]["n"] > 1:  # over the seeds: mean ± sd in accuracy and latency
                    ax.errorbar(
                        cvs["mean_latency_ms"]["mean"],
                        cvs["accuracy"]["mean"],
                        xerr=cvs["mean_latency_ms"]["sd"],
                        yerr=cvs["accuracy"]["sd"],
                        fmt="s",
                        ms=4,
                        color=line.get_color(),
                        capsize=3,
                        alpha=0.7,
                    )
    ax.set_xlabel("latency per clip (ms, LCE interpreter, 1 thread)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy vs latency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)  # below: the points stay seen
    if per_class:  # which classes leave early at the default threshold
        names = sorted(per_class, key=per_class.get)
        side = axes[1]
        side.barh(range(len(names)), [per_class[n] for n in names], color="tab:green")
        side.set_yticks(range(len(names)), names, fontsize=8)
        side.set_xlim(1, max(len(ex), 1) + 0.05)
        side.set_xlabel("mean exit used (1 = first)")
        side.set_title("Per class, default threshold")
        side.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def read(layout):
    """report.json of a run's folder as a dict ({} when there is none)."""
    if not os.path.isfile(layout.report_json):
        return {}
    with open(layout.report_json) as f:
        return json.load(f)


def write(layout, r):
    """Stage 6, figures → report: report.json, and for a run's report (one with exits) report.md and tradeoff.png.

    Args:
        layout: the run's output folder.
        r: the report (a dict, as `run.train_and_measure` makes it).

    Returns:
        The paths written.
    """
    atomic_write(layout.report_json, json.dumps(r, indent=2).encode())
    if not r.get("exits"):  # e.g. device figures of a folder whose run wrote no report
        return [layout.report_json]
    atomic_write(layout.report_md, markdown(r).encode())
    plot_tradeoff(r, layout.tradeoff)
    return [layout.report_json, layout.report_md, layout.tradeoff]
