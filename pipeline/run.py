"""Audio → teacher embeddings → binary early-exit student → LCE .tflite files → report.

    python pipeline/run.py                       # offline demo: bundled clips + stand-in teacher
    python pipeline/run.py --data DIR [--unlabeled DIR] [--teacher HANDLE] [--student NAME]
                           [--exits K] [--clip-seconds S] [--epochs N] [--batch-size B] [--out DIR]
                           [--config FILE]

Every flag can also be set in a YAML or JSON file given with --config (keys are the
flag names, with - or _). A second run with the same --out reuses the teacher cache,
the trained weights and any interrupted training state.
"""
import argparse
import hashlib
import json
import os
import sys
import time

if __package__ in (None, ""):  # `python pipeline/run.py`: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pipeline  # noqa: E402,F401  (selects Keras 2 before TensorFlow is imported)

DEMO_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_data")
STAND_IN = "stand-in"


def parser():
    p = argparse.ArgumentParser(prog="pipeline/run.py", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML or JSON file of flag values")
    p.add_argument("--data", help="labelled task folder (DIR/<label>/*.wav or DIR/train|test/<label>/…); "
                                  "default: the bundled demo clips")
    p.add_argument("--unlabeled", help="extra audio (any depth) used for distillation only")
    p.add_argument("--teacher", help="TF-Hub URL, local SavedModel folder, trillsson1…trillsson5, or "
                                     f"'{STAND_IN}' (default: trillsson3; the demo uses a stand-in)")
    p.add_argument("--teacher-output", default="embedding",
                   help="teacher output: dict key (default: embedding); a model with one tensor output needs none")
    p.add_argument("--teacher-cache", metavar="DIR",
                   help="teacher embedding cache, shareable between runs (default: OUT/teacher_cache)")

    def family(name):  # the registry imports TensorFlow, so only a --student value loads it here
        from models import students
        try:
            students.get(name)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e))
        return name

    def whole(minimum):
        def check(text):
            try:
                v = int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
            if v < minimum:
                raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {v}")
            return v
        return check

    def fraction(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number")
        if not 0.0 <= v < 1.0:
            raise argparse.ArgumentTypeError(f"must be in [0, 1), got {v}")
        return v

    def non_negative(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number")
        if not v >= 0.0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
        return v

    def weights(text):
        from pipeline.distill import parse_exit_weights
        try:
            return parse_exit_weights(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e))

    p.add_argument("--student", default="quicknet", type=family,
                   help="student family: quicknet (default), birealnet, binarydensenet, meliusnet")
    p.add_argument("--exits", type=whole(1), default=3, help="number of early exits, one per section (default: 3)")
    p.add_argument("--width", type=whole(1), help="channels of the first section; later sections double it "
                                                  "up to 4x (default: the family's: quicknet 48, ...)")
    p.add_argument("--depth", type=whole(1), help="blocks per section, i.e. between two exits "
                                                  "(default: the family's: quicknet 2, birealnet 3, ...)")
    p.add_argument("--no-spec-augment", dest="spec_augment", action="store_false",
                   help="no SpecAugment time/frequency masks on the log-mel features while training")
    p.add_argument("--exit-weights", type=weights, help="distillation loss weight per exit, e.g. 0.5,0.75,1 "
                                                        "(default: 1 for every exit)")
    p.add_argument("--optimizer", default="adam", choices=("adam", "bop"),
                   help="adam: Adam on latent weights, clipped (default); bop: larq's Bop for binary "
                        "kernels (CaseOptimizer), Adam for the rest")
    p.add_argument("--lr", type=non_negative, default=2e-3, help="distillation learning rate, cosine-decayed (default: 2e-3)")
    p.add_argument("--fine-tune-epochs", type=whole(0), default=20,
                   help="after the heads, fine-tune everything on distillation + label loss at every exit "
                        "(default: 20; 0 turns it off)")
    p.add_argument("--label-weight", type=non_negative, default=1.0, help="label loss weight in the fine-tune (default: 1)")
    p.add_argument("--val-fraction", type=fraction, default=0.1,
                   help="seeded fraction of the clips held out for validation loss (default: 0.1)")
    p.add_argument("--patience", type=whole(1), default=20,
                   help="stop a phase when its validation loss has not improved for this many epochs (default: 20)")
    p.add_argument("--strategy", default="default", choices=("default", "mirrored", "multiworker"),
                   help="tf.distribute strategy: default (one device, a GPU if present), mirrored (all local "
                        "GPUs), multiworker (hosts in TF_CONFIG)")
    p.add_argument("--clip-seconds", type=float, default=1.0, help="clip length in seconds (default: 1)")
    p.add_argument("--epochs", type=int, default=80, help="distillation epochs (default: 80)")
    p.add_argument("--head-epochs", type=int, default=40, help="classifier-head epochs (default: 40)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--no-augment", dest="augment", action="store_false",
                   help="distil on the clean clips only (default: shift, gain and noise augmentation)")
    p.add_argument("--loss", default="mse", choices=("mse", "cosine", "l1"),
                   help="distillation loss at every exit: mse, cosine or l1 (default: mse)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default: artifacts/<run-name>)")
    p.add_argument("--runs", type=int, default=50, help="timed runs per latency figure (default: 50)")
    p.add_argument("--android", metavar="DIR", help="also copy stages, labels and thresholds into an "
                                                    "Android demo project's assets (e.g. android_demo)")
    p.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    p.add_argument("--eval-tasks", nargs="+", metavar="DIR",
                   help="after the run, linear-probe the teacher, every exit and a log-mel baseline on "
                        "these task folders (pipeline/evaluate.py): OUT/eval.json, eval.md, eval.png")
    return p


def parse_args(argv=None):
    p = parser()
    args, _ = p.parse_known_args(argv)
    if args.config:
        with open(args.config) as f:
            if args.config.endswith(".json"):
                cfg = json.load(f)
            else:
                import yaml
                cfg = yaml.safe_load(f) or {}
        known = {a.dest for a in p._actions}
        cfg = {k.replace("-", "_"): v for k, v in cfg.items()}
        unknown = sorted(set(cfg) - known)
        if unknown:
            p.error(f"{args.config}: unknown settings {unknown}")
        p.set_defaults(**cfg)
    return p.parse_args(argv)


def say(msg):
    print(f"[run] {msg}", flush=True)


def _settings_hash(args, labels):
    keys = ("data", "unlabeled", "teacher", "teacher_output", "student", "exits", "width", "clip_seconds",
            "epochs", "head_epochs", "batch_size", "loss", "augment", "seed")
    blob = json.dumps({**{k: getattr(args, k) for k in keys}, "labels": labels}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def load_data(args, clip_samples):
    """Stage 1: audio files → clips. Returns a dict of arrays and the skipped list.

    A file that cannot be used never stops the run: it is skipped, listed with its reason
    (report.json `data.skipped`) and counted in a summary; only a run left with no training
    clips stops, with a message. `_background_noise_` recordings are decoded for augmentation.
    """
    from collections import Counter
    from pipeline import datasets
    from pipeline import teacher as teacher_lib
    root = args.data or DEMO_DATA
    handle = args.teacher or (STAND_IN if not args.data else "trillsson3")
    if handle != STAND_IN:  # fail before decoding hours of audio, not after
        try:
            teacher_lib.preflight(handle, deferred=bool(args.teacher_cache))
        except teacher_lib.TeacherUnavailable as e:
            raise SystemExit(f"error: {e}")
    try:
        ds = datasets.scan(root, seed=args.seed)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    for w in ds.warnings:
        say(f"warning: {w}")
    skipped = list(ds.rejected)
    data = {"labels": ds.labels, "unlabeled": None, "noise": [], "skipped": skipped}
    for split in ("train", "validation", "test"):
        clips = ds.split(split)
        if split == "validation" and not clips:
            continue
        x, y, paths, bad = datasets.load(clips, clip_samples, progress=say)
        skipped += bad
        data[split] = (x, y, paths)
    if ds.noise:
        data["noise"], bad = datasets.load_noise(ds.noise)
        skipped += bad
        say(f"data: {len(data['noise'])} background-noise recordings for augmentation")
    if args.unlabeled:
        try:
            ux, ids, _, bad = datasets.load_unlabeled(args.unlabeled, clip_samples, progress=say)
        except FileNotFoundError as e:
            raise SystemExit(f"error: {e}")
        skipped += bad
        data["unlabeled"] = (ux, ids)
    if skipped:
        why = Counter(s["reason"].split(" (")[0] for s in skipped)
        say(f"data: {len(skipped)} files skipped: " + "; ".join(f"{n} × {r}" for r, n in why.most_common()))
    if len(data["train"][0]) == 0:
        for s in skipped:
            say(f"  skipped {s['path']}: {s['reason']}")
        raise SystemExit(f"error: no usable training clips in {root} "
                         f"({len(skipped)} files skipped; see the list above)")
    return data, skipped


def teacher_stage(args, out, data, clip_samples, labels_hash):
    """Stage 2: teacher embeddings for every clip, computed once and cached on disk.

    The teacher is loaded only if some clip is not in the cache. A clip the teacher fails on
    is dropped and listed with the skipped files.
    """
    from pipeline import teacher as teacher_lib
    from pipeline.cache import EmbeddingCache

    handle = args.teacher or (STAND_IN if not args.data else "trillsson3")
    stand_in = handle == STAND_IN
    if stand_in:
        handle = os.path.join(out, "teacher")
        if not os.path.exists(os.path.join(handle, "saved_model.pb")):
            say(f"building a stand-in teacher (TRILLsson's interface) at {handle}")
            teacher_lib.build_stand_in(handle, data["train"][0], seed=args.seed)
        say("NOTE: using a STAND-IN teacher, not TRILLsson (no network here). "
            "Pass --teacher trillsson3 (or a local TRILLsson folder) for the real one.")
    try:
        teacher = teacher_lib.Teacher(handle, args.teacher_output)
    except teacher_lib.TeacherUnavailable as e:
        raise SystemExit(f"error: {e}")
    cache = EmbeddingCache(args.teacher_cache or os.path.join(out, "teacher_cache"))
    params = {"clip_samples": clip_samples, "sample_rate": 16000, "output": args.teacher_output}
    ident = teacher.identity
    sets = {name: (data[name][0], [cache.key(ident, p, params) for p in data[name][2]])
            for name in ("train", "validation", "test") if name in data}
    if data["unlabeled"] is not None:
        ux, ids = data["unlabeled"]
        sets["unlabeled"] = (ux, [cache.key(ident, i.rsplit("#", 1)[0], {**params, "piece": i.rsplit("#", 1)[1]})
                                  for i in ids])
    emb, hits, computed = {}, 0, 0
    for name, (audio, keys) in sets.items():
        failed = []
        try:
            emb[name], h, c = teacher_lib.embed(teacher, audio, keys, cache, batch_size=args.batch_size,
                                                progress=say, failures=failed)
        except teacher_lib.TeacherUnavailable as e:
            raise SystemExit(f"error: {e}")
        hits, computed = hits + h, computed + c
        if failed:  # drop the clips the teacher could not embed; list them with the skipped files
            keep = sorted(set(range(len(keys))) - {i for i, _ in failed})
            ids = data[name][2] if name != "unlabeled" else data[name][1]
            data.get("skipped", []).extend({"path": str(ids[i]), "reason": r} for i, r in failed)
            say(f"teacher: {len(failed)} {name} clips dropped (the teacher failed on them)")
            data[name] = tuple(v[keep] if hasattr(v, "shape") else [v[i] for i in keep] for v in data[name])
            emb[name] = emb[name][keep]
    dim = teacher.dim or max(e.shape[1] for e in emb.values())
    emb = {k: v.reshape(0, dim) if len(v) == 0 else v for k, v in emb.items()}
    teacher.release()  # the model is not needed again; its call counter is
    say(f"teacher: {computed} clips embedded, {hits} from cache ({teacher.calls} teacher calls"
        f"{f', {teacher.seconds:.1f} s in the teacher' if teacher.calls else ''}); cache {cache.root}")
    info = {"handle": handle, "stand_in": stand_in, "embedding_dim": int(dim), "output": args.teacher_output,
            "clips_embedded": computed, "cache_hits": hits, "teacher_calls": teacher.calls,
            "teacher_seconds": round(teacher.seconds, 2), "cache": cache.root}
    # per-epoch wall time and teacher calls during training → info["benchmark"] (report.json teacher.benchmark)
    emb["callbacks"] = [teacher_lib.TeacherCallCounter(teacher, into=info)]
    return emb, info


def student_stage(args, out, data, emb, clip_samples, settings):
    """Stage 3: build the BNN under the chosen tf.distribute strategy, distil at every exit, train a
    classifier head per exit, optionally fine-tune everything jointly.

    Each finished phase saves its weights (OUT/checkpoints/student-<settings>-<phase>.weights.h5),
    so a rerun skips it; an interrupted phase continues from its last epoch (BackupAndRestore).
    """
    import numpy as np
    import tensorflow as tf
    from models import students
    from pipeline import distill

    try:
        exit_weights = distill.parse_exit_weights(args.exit_weights, args.exits)
        strategy = distill.get_strategy(args.strategy)
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    # the student's own settings join the run's: a checkpoint is reused only by the same student
    opts = {k: getattr(args, k) for k in ("depth", "optimizer", "lr", "fine_tune_epochs", "label_weight",
                                          "val_fraction", "patience", "spec_augment")}
    tag = hashlib.sha1(json.dumps([settings, exit_weights, opts], sort_keys=True).encode()).hexdigest()[:16]
    num_classes = len(data["labels"])
    with strategy.scope():
        try:
            model = students.build(args.student, num_classes=num_classes, embedding_dim=emb["train"].shape[1],
                                   exits=args.exits, clip_samples=clip_samples, width=args.width,
                                   depth=opts["depth"], spec_augment=opts["spec_augment"], seed=args.seed)
        except ValueError as e:
            raise SystemExit(f"error: {e}")
    ckpt = os.path.join(out, "checkpoints", f"student-{tag}.weights.h5")
    if os.path.exists(ckpt):
        say(f"student: reusing trained weights {ckpt}")
        model.load_weights(ckpt)
        return model
    x, t = data["train"][0], emb["train"]
    if data["unlabeled"] is not None:
        x, t = np.concatenate([x, data["unlabeled"][0]]), np.concatenate([t, emb["unlabeled"]])
    common = dict(batch_size=args.batch_size, out_dir=out, verbose=0 if args.quiet else 1, seed=args.seed, tag=tag)
    from pipeline import augment as augment_lib
    augment = augment_lib.waveform(noise=data.get("noise"), seed=args.seed) if args.augment else False
    train = dict(loss=args.loss, exit_weights=exit_weights, optimizer=opts["optimizer"], augment=augment,
                 val_fraction=opts["val_fraction"], patience=opts["patience"])
    gpus = len(tf.config.list_physical_devices("GPU"))
    say(f"student: {args.student}, {args.exits} exits, {model.count_params():,} parameters, "
        f"{strategy.num_replicas_in_sync} replica(s) ({args.strategy} strategy, {gpus} GPU(s) visible)")

    def phase(name, message, fn):
        done = os.path.join(out, "checkpoints", f"student-{tag}-{name}.weights.h5")
        if os.path.exists(done):
            say(f"student: {name} already done, reusing {done}")
            model.load_weights(done)
            return
        say(f"student: {message}")
        fn()
        model.save_weights(done)

    phase("distill", f"distilling on {len(x)} clips for up to {args.epochs} epochs ({args.loss} loss at every exit, "
                     f"weights {exit_weights or 'all 1'}, {opts['optimizer']}, "
                     f"{opts['val_fraction']:.0%} held out for early stopping)",
          lambda: distill.distill(model, x, t, epochs=args.epochs, lr=opts["lr"], callbacks=emb.get("callbacks", []),
                                  **train, **common))
    phase("heads", f"training {args.exits} classifier heads for {args.head_epochs} epochs (frozen backbone)",
          lambda: distill.train_heads(model, data["train"][0], data["train"][1], epochs=args.head_epochs, **common))
    if opts["fine_tune_epochs"]:
        phase("fine_tune", f"fine-tuning everything for {opts['fine_tune_epochs']} epochs (distillation + "
                           f"{opts['label_weight']} x label loss at every exit)",
              lambda: distill.fine_tune(model, data["train"][0], emb["train"], data["train"][1],
                                        epochs=opts["fine_tune_epochs"], label_weight=opts["label_weight"],
                                        lr=opts["lr"] / 4, **train, **common))
    model.save_weights(ckpt)
    return model


def export_stage(out, model, data):
    """Stage 4: LCE files (model, exits, stages), portable files, labels, binarization check."""
    from export import convert, flatbuffer
    files = convert.export_all(model, out, progress=say)
    last = convert.exit_model(model, len(files["exits"]))
    files["float_reference"] = convert._write(os.path.join(out, "float_reference.tflite"), convert.to_portable(last))
    with open(files["model"], "rb") as f:
        fb = f.read()
    info = flatbuffer.inspect(fb)
    info["not_binarized"] = flatbuffer.check_binarization(model, fb, warn=say)
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(data["labels"]) + "\n")
    files["labels"] = os.path.join(out, "labels.txt")
    return files, fb, info


def benchmark_stage(out, model, fb, data, emb, runs=50):
    """Stage 5: per-exit latency/accuracy (LCE interpreter), float reference, parity, early-exit calibration."""
    from export import benchmark
    from pipeline import calibrate
    test_x, test_y, _ = data["test"]
    say(f"benchmark: LCE interpreter, 1 thread, median of {runs} runs per exit and stage")
    exits = benchmark.measure_exits([os.path.join(out, f) for f in benchmark.model_files(out, ["exits"])], test_x, test_y, emb["test"], runs=runs,
                                    root=out, progress=say)
    probs = [e.pop("probs") for e in exits]
    stage_ms = benchmark.stage_latencies([os.path.join(out, f) for f in benchmark.model_files(out, ["stages"])], test_x, runs=runs)
    with open(os.path.join(out, "float_reference.tflite"), "rb") as f:
        float_ms = benchmark.float_latency_ms(f.read(), test_x, runs=runs)
    say(f"float reference (stock TFLite + XNNPACK, 1 thread): {float_ms:.2f} ms; LCE last exit: "
        f"{exits[-1]['latency_ms']:.2f} ms")
    sweep = calibrate.sweep(probs, test_y, stage_ms)
    chosen = calibrate.choose(sweep, exits[-1]["accuracy"])
    calibrate.write_thresholds(out, chosen, len(exits), int(test_x.shape[1]))
    honest = calibrate.cross_validated(probs, test_y, stage_ms)
    for name, c in chosen.items():
        say(f"early exit '{name}': threshold {c['threshold']:.3f}, accuracy {c['accuracy']:.3f}, "
            f"mean latency {c['mean_latency_ms']:.2f} ms (cross-validated: {honest[name]['accuracy']:.3f}, "
            f"{honest[name]['mean_latency_ms']:.2f} ms)")
    per_class = calibrate.per_class_exit(probs, test_y, data["labels"], chosen["within_1pct"]["threshold"])
    benchmark.write_pi_script(out)
    vectors_path = os.path.join(out, "early_exit_vectors.json")
    from export import vectors
    vectors.write(vectors_path, [p[:16] for p in probs], [0.0, chosen["within_1pct"]["threshold"], 0.5, 1.0])
    return {
        "exits": exits,
        "stages": [{"index": k, "path": f"stages/stage_{k}.tflite", "latency_ms": v} for k, v in enumerate(stage_ms, 1)],
        "float_reference": {"latency_ms": float_ms, "path": "float_reference.tflite",
                            "runtime": "stock TFLite + XNNPACK, 1 thread"},
        "performance": benchmark.ratios(exits, float_ms),
        "early_exit": sweep,
        "early_exit_targets": {k: {**v, "cross_validated": honest[k]} for k, v in chosen.items()},
        "early_exit_per_class_mean_exit": per_class,
        "parity": benchmark.parity(model, fb, test_x[:64]),
    }


def android_stage(out, project):
    """Copy what the Android demo reads (stages, portable stages, labels, thresholds) into its assets."""
    import shutil
    assets = os.path.join(project, "app", "src", "main", "assets")
    if not os.path.isdir(os.path.dirname(assets)):
        raise SystemExit(f"error: {project}: not an Android demo project (no app/src/main)")
    for sub in ("stages", "stages_portable"):
        shutil.copytree(os.path.join(out, sub), os.path.join(assets, sub), dirs_exist_ok=True)
    for name in ("labels.txt", "thresholds.json"):
        shutil.copy2(os.path.join(out, name), os.path.join(assets, name))
    return assets


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    run_name = "demo" if not args.data else f"{os.path.basename(os.path.normpath(args.data))}-{args.student}"
    out = os.path.abspath(args.out or os.path.join("artifacts", run_name))
    os.makedirs(out, exist_ok=True)
    clip_samples = int(round(args.clip_seconds * 16000))
    say(f"output folder: {out}")

    data, skipped = load_data(args, clip_samples)
    n_clips = len(data["train"][0]) + len(data["test"][0]) + (
        len(data["unlabeled"][0]) if data["unlabeled"] is not None else 0)
    say(f"data: {len(data['train'][0])} train / {len(data['test'][0])} test clips, "
        f"{len(data['labels'])} labels, {len(skipped)} files skipped")
    for s in skipped:
        say(f"  skipped {s['path']}: {s['reason']}")
    settings = _settings_hash(args, data["labels"])
    emb, teacher_info = teacher_stage(args, out, data, clip_samples, settings)
    model = student_stage(args, out, data, emb, clip_samples, settings)

    files, fb, info = export_stage(out, model, data)
    figures = benchmark_stage(out, model, fb, data, emb, args.runs)
    r = {
        "run_name": run_name,
        "teacher": teacher_info,
        "student": {"family": args.student, "exits": args.exits, "params": int(model.count_params())},
        "data": {"clips": n_clips, "train_clips": len(data["train"][0]), "test_clips": len(data["test"][0]),
                 "skipped": skipped, "labels": data["labels"], "root": args.data or DEMO_DATA},
        "model": {"path": "model.tflite", "bytes": len(fb), "binary_mac_fraction": info["binary_mac_fraction"],
                  "op_counts": info["op_counts"], "total_macs": info["total_macs"],
                  "binary_macs": info["binary_macs"], "not_binarized": info["not_binarized"]},
        **figures,
        "settings": {k: v for k, v in vars(args).items() if k != "config"},
        "wall_seconds": round(time.time() - t0, 1),
    }
    from pipeline import report
    written = report.write(out, r)
    if args.android:
        say(f"android: assets copied to {android_stage(out, args.android)}")
    n_bconv = info["op_counts"].get("LceBconv2d", 0)
    say(f"model.tflite: {len(fb):,} bytes, {n_bconv} LceBconv2d ops, "
        f"binary MAC fraction {info['binary_mac_fraction']:.3f}")
    if args.eval_tasks:
        from pipeline import evaluate
        ev = evaluate.evaluate(out, args.eval_tasks, teacher=teacher_info["handle"],
                               teacher_output=args.teacher_output, seed=args.seed, progress=say)
        r["eval"] = evaluate.summary(ev)
        written = report.write(out, r) + ev["files"]
    if teacher_info["stand_in"]:
        say("NOTE: the teacher was a stand-in, not TRILLsson.")
    say(f"done in {time.time() - t0:.0f} s. Files in {out}:")
    for p in [files["model"], *files["exits"], *files["stages"], files.get("portable"), files["float_reference"],
              files["labels"], os.path.join(out, "thresholds.json"), *written]:
        say(f"  {p}")
    return r


if __name__ == "__main__":
    main()
