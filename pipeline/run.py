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
    p.add_argument("--teacher-output", default="embedding", help="teacher output key (default: embedding)")
    p.add_argument("--student", default="quicknet", help="student family (default: quicknet)")
    p.add_argument("--exits", type=int, default=3, help="number of early exits (default: 3)")
    p.add_argument("--width", type=int, default=32, help="channels of the first section (default: 32)")
    p.add_argument("--clip-seconds", type=float, default=1.0, help="clip length in seconds (default: 1)")
    p.add_argument("--epochs", type=int, default=80, help="distillation epochs (default: 80)")
    p.add_argument("--head-epochs", type=int, default=40, help="classifier-head epochs (default: 40)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--no-augment", dest="augment", action="store_false",
                   help="distil on the clean clips only (default: shift, gain and noise augmentation)")
    p.add_argument("--loss", default="mse", help="distillation loss: mse, cosine or l1 (default: mse)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default: artifacts/<run-name>)")
    p.add_argument("--quiet", action="store_true", help="no Keras progress bars")
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
    """Stage 1: audio files → clips. Returns a dict of arrays and the skipped list."""
    from pipeline import datasets
    ds = datasets.scan(args.data or DEMO_DATA, seed=args.seed)
    train_x, train_y, train_p, skipped = datasets.load(ds.split("train"), clip_samples)
    test_x, test_y, test_p, skipped_test = datasets.load(ds.split("test"), clip_samples)
    skipped += skipped_test
    data = {"labels": ds.labels, "train": (train_x, train_y, train_p), "test": (test_x, test_y, test_p),
            "unlabeled": None}
    if args.unlabeled:
        ux, ids, _, skipped_u = datasets.load_unlabeled(args.unlabeled, clip_samples)
        skipped += skipped_u
        data["unlabeled"] = (ux, ids)
    if len(train_x) == 0:
        raise SystemExit(f"error: no usable training clips in {args.data or DEMO_DATA} "
                         f"({len(skipped)} files skipped)")
    return data, skipped


def teacher_stage(args, out, data, clip_samples, labels_hash):
    """Stage 2: teacher embeddings for every clip, computed once and cached on disk."""
    import numpy as np
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
        teacher = teacher_lib.load(handle, args.teacher_output)
    except teacher_lib.TeacherUnavailable as e:
        raise SystemExit(f"error: {e}")
    cache = EmbeddingCache(os.path.join(out, "teacher_cache"))
    params = {"clip_samples": clip_samples, "sample_rate": 16000, "output": args.teacher_output}
    ident = teacher.handle if not stand_in else f"{teacher.handle}@{labels_hash}"
    sets = {"train": data["train"][2], "test": data["test"][2]}
    emb, hits, computed = {}, 0, 0
    for name, paths in sets.items():
        keys = [cache.key(ident, p, params) for p in paths]
        emb[name], h, c = teacher_lib.embed(teacher, data[name][0], keys, cache, progress=say)
        hits, computed = hits + h, computed + c
    if data["unlabeled"] is not None:
        ux, ids = data["unlabeled"]
        keys = [cache.key(ident, i.rsplit("#", 1)[0], {**params, "piece": i.rsplit("#", 1)[1]}) for i in ids]
        emb["unlabeled"], h, c = teacher_lib.embed(teacher, ux, keys, cache, progress=say)
        hits, computed = hits + h, computed + c
    say(f"teacher: {computed} clips embedded, {hits} from cache ({teacher.calls} teacher calls)")
    info = {"handle": handle, "stand_in": stand_in, "embedding_dim": int(emb["train"].shape[1]),
            "clips_embedded": computed, "cache_hits": hits, "teacher_calls": teacher.calls}
    return emb, info


def student_stage(args, out, data, emb, clip_samples, settings):
    """Stage 3: build the BNN, distil at every exit, train a classifier head per exit."""
    import numpy as np
    from models import students
    from pipeline import distill

    num_classes = len(data["labels"])
    model = students.build(args.student, num_classes=num_classes, embedding_dim=emb["train"].shape[1],
                           exits=args.exits, clip_samples=clip_samples, width=args.width)
    ckpt = os.path.join(out, "checkpoints", f"student-{settings}.weights.h5")
    if os.path.exists(ckpt):
        say(f"student: reusing trained weights {ckpt}")
        model.load_weights(ckpt)
        return model
    x, t = data["train"][0], emb["train"]
    if data["unlabeled"] is not None:
        x, t = np.concatenate([x, data["unlabeled"][0]]), np.concatenate([t, emb["unlabeled"]])
    verbose = 0 if args.quiet else 2
    say(f"student: {args.student}, {args.exits} exits, {model.count_params():,} parameters; "
        f"distilling on {len(x)} clips for {args.epochs} epochs ({args.loss} loss at every exit)")
    distill.distill(model, x, t, epochs=args.epochs, batch_size=args.batch_size, loss=args.loss,
                    augment=args.augment, out_dir=out, verbose=verbose, seed=args.seed)
    say(f"student: training {args.exits} classifier heads for {args.head_epochs} epochs (frozen backbone)")
    distill.train_heads(model, data["train"][0], data["train"][1], epochs=args.head_epochs,
                        batch_size=args.batch_size, out_dir=out, verbose=verbose, seed=args.seed)
    model.save_weights(ckpt)
    return model


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

    from export import benchmark, convert, flatbuffer
    from pipeline import report
    files = convert.export_all(model, out, progress=say)
    with open(files["model"], "rb") as f:
        fb = f.read()
    info = flatbuffer.inspect(fb)
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(data["labels"]) + "\n")
    test_x, test_y, _ = data["test"]
    say("benchmark: LCE interpreter, 1 thread, median of 50 runs per exit")
    exits = benchmark.measure_exits(files["exits"], test_x, test_y, emb["test"], root=out, progress=say)
    par = benchmark.parity(model, fb, test_x[:32])
    r = {
        "run_name": run_name,
        "teacher": teacher_info,
        "student": {"family": args.student, "exits": args.exits, "params": int(model.count_params())},
        "data": {"clips": n_clips, "train_clips": len(data["train"][0]), "test_clips": len(test_x),
                 "skipped": skipped, "labels": data["labels"], "root": args.data or DEMO_DATA},
        "model": {"path": "model.tflite", "bytes": len(fb), "binary_mac_fraction": info["binary_mac_fraction"],
                  "op_counts": info["op_counts"], "total_macs": info["total_macs"]},
        "exits": exits,
        "parity": par,
        "settings": {k: v for k, v in vars(args).items() if k != "config"},
        "wall_seconds": round(time.time() - t0, 1),
    }
    written = report.write(out, r)
    n_bconv = info["op_counts"].get("LceBconv2d", 0)
    say(f"model.tflite: {len(fb):,} bytes, {n_bconv} LceBconv2d ops, "
        f"binary MAC fraction {info['binary_mac_fraction']:.3f}")
    if teacher_info["stand_in"]:
        say("NOTE: the teacher was a stand-in, not TRILLsson.")
    say(f"done in {time.time() - t0:.0f} s. Files in {out}:")
    for p in [files["model"], *files["exits"], os.path.join(out, "labels.txt"), *written]:
        say(f"  {p}")
    return r


if __name__ == "__main__":
    main()
