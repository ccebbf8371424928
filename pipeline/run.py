"""Audio → teacher embeddings → binary early-exit student → LCE .tflite files → report.

    python pipeline/run.py                       # offline demo: bundled clips + stand-in teacher
    python pipeline/run.py --data DIR [--unlabeled DIR] [--teacher HANDLE] [--student NAME]
                           [--exits K] [--clip-seconds S] [--epochs N] [--batch-size B] [--out DIR]
                           [--config FILE]
    brillsson run …                              # the same, as the console command

Every flag can also be set in a YAML or JSON file given with --config (see `pipeline.config`).
A second run with the same --out reuses the teacher cache, the trained weights and any
interrupted training state.

```python
from pipeline import config, run
report = run.run(config.from_argv(["--epochs", "2"]))
```
Each stage is a function of its own module that returns what it made, typed:
`corpus.load_corpus` → `Corpus`, `targets.teacher_targets` → `Targets`,
`student.train_student` → `TrainedStudent`, `artifacts.export_student` → `Artifacts`,
`figures.measure` → `Figures`; `run` assembles their report sections and writes the report once.
"""

import dataclasses
import errno
import logging
import os
import shutil
import sys
import time

if __package__ in (None, ""):  # `python pipeline/run.py`: the repository, not pipeline/, on the path
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from export import manifest  # noqa: E402
from export.files import read_json  # noqa: E402
from export.layout import Layout  # noqa: E402
from pipeline import artifacts, baseline, distill, extract, figures, report, spread, student, targets, views, workers  # noqa: E402
from pipeline.config import RunConfig  # noqa: E402
from pipeline.errors import ConfigError, DiskFull, as_command  # noqa: E402
from pipeline.lock import OutputLock  # noqa: E402
from pipeline import usage  # noqa: E402

log = logging.getLogger("pipeline.run")  # not __name__: run as a script this module is __main__


def copy_to_android(layout, project):
    """Copy what the Android demo reads (stages, portable stages, labels, thresholds) into its assets."""
    assets = os.path.join(project, "app", "src", "main", "assets")
    if not os.path.isdir(os.path.dirname(assets)):
        raise ConfigError(f"{project}: not an Android demo project (no app/src/main)")
    manifest.verify(layout, needed=list(Layout.DEVICE_FILES))  # never ship a mixed or unfinished export
    for name in Layout.DEVICE_FILES:
        src, dst = layout.path(name), os.path.join(assets, name)
        if os.path.isdir(src):
            shutil.rmtree(dst, ignore_errors=True)  # no stage of an earlier export may stay behind
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    return assets


def train_and_measure(cfg: RunConfig, corpus, goal, layout) -> dict:
    """Stages 3–5 for one seed (student → files → figures) into `layout`.

    Args:
        cfg: the run configuration (its seed is the one trained).
        corpus: the decoded clips.
        goal: the teacher targets.
        layout: the seed's output folder.

    Returns:
        That seed's report, a dict (the caller writes it).
    """
    extra = views.teacher_views(corpus, goal, cfg, layout) if cfg.train.teacher_views else None
    calls_before_training = goal.teacher.calls
    trained = student.train_student(corpus, goal, cfg, layout, views=extra)
    made = artifacts.export_student(
        trained.model,
        corpus.labels,
        layout,
        cfg.export.embedding_rank,
        cfg.export.int8_weights,
        cfg.export.embedding_ensemble,
    )
    twin, twin_files, twin_embedding = None, [], []
    if cfg.eval.float_twin:  # the same recipe with full-precision convolutions: what binarization costs
        twin = student.train_student(corpus, goal, cfg, layout, float_twin=True, views=extra)
        twin_files, embedding = artifacts.export_float_twin(
            twin.model, layout, cfg.export.embedding_rank, cfg.export.int8_weights, cfg.export.embedding_ensemble
        )
        twin_embedding = [embedding]
    base = None
    if cfg.eval.baseline != "none":
        if getattr(corpus, "streamed", False):
            log.info("baseline: skipped with --data-format shards (it trains on clips in memory)")
        else:
            base = baseline.train_baseline(corpus, cfg, layout)
    figs = figures.measure(
        trained.model, made, corpus, goal, layout, runs=cfg.export.runs, twin_files=twin_files, baseline=base
    )
    extra_files = twin_files + twin_embedding + ([base.path, base.float_path] if base else [])
    manifest.write(layout, made.files.all() + extra_files + [made.labels, layout.thresholds], model=trained.key)
    teacher_section = goal.section()
    if extra is not None:
        teacher_section["views"] = extra.section()
    if trained.epoch_seconds:  # the cache at work: training reads it and never calls the teacher
        teacher_section["benchmark"] = {
            "teacher_calls_after_first_pass": goal.teacher.calls - calls_before_training,
            "epoch_seconds": trained.epoch_seconds,
        }
    r = {
        "run_name": cfg.run_name,
        "seed": cfg.seed,
        "teacher": teacher_section,
        "student": trained.section(),
        "data": corpus.section(),
        "model": made.section(),
        **figs.section(),
        "settings": cfg.flat(),
        "files": [layout.relative(p) for p in made.files.all() + extra_files + [made.labels, layout.thresholds]],
    }
    if twin is not None:
        r["float_twin"]["student"] = twin.section()
    if cfg.eval.tasks:
        from pipeline import evaluate

        ev = evaluate.evaluate(
            layout.root,
            cfg.eval.tasks,
            teacher=goal.handle,
            teacher_output=cfg.teacher.output,
            seed=evaluate.PROBE_SEED,
            stand_in=goal.stand_in,
        )
        r["eval"] = evaluate.summary(ev)
        r["curves"] = _curves(layout, ev, cfg.export.embedding_ensemble)
    n_bconv = made.info["op_counts"].get("LceBconv2d", 0)
    log.info(
        f"model.tflite: {len(made.flatbuffer):,} bytes, {n_bconv} LceBconv2d ops, "
        f"binary MAC fraction {made.info['binary_mac_fraction']:.3f}"
    )
    return r


def _curves(layout, ev, ensemble):
    """report.json "curves": the held-out probe points measured while distilling, and curves.png redrawn with
    the teacher's and the log-mel baseline's accuracy beside them (None when none were measured)."""
    from pipeline import curves

    saved = read_json(layout.curves) or {}
    points = saved.get("points")
    if not points:
        return None
    measured = bool(saved.get("ensemble", False))
    if measured != ensemble:  # a training reused from its checkpoints, curves taken with the other readout
        log.info(
            "curves: measured with "
            + ("the exits' mean" if measured else "each exit's head alone")
            + " while distilling; embedding.tflite now reads "
            + ("the exits' mean" if ensemble else "each head alone")
        )
    refs = {n: {"teacher": t["teacher"], "log-mel baseline": t["baseline"]} for n, t in ev["tasks"].items()}
    png = curves.plot(points, os.path.splitext(layout.curves)[0] + ".png", references=refs)
    return {"points": points, "ensemble": measured, "files": [layout.curves, png]}


def _ship(seed_layout, layout, files):
    """Copy a seed's deliverables (`files`, relative paths) to the top of the output folder."""
    manifest.begin(layout)
    for rel in files + [Layout.VECTORS, Layout.PI_SCRIPT, manifest.NAME]:  # the manifest last: the set is whole
        src = seed_layout.path(rel)
        if os.path.exists(src):
            os.makedirs(os.path.dirname(layout.path(rel)), exist_ok=True)
            shutil.copy2(src, layout.path(rel))


def run(cfg: RunConfig) -> dict:
    """The whole pipeline for one configuration; returns the report (also written to OUT/report.json).

    With `cfg.repeats` = N > 1, the clips are decoded and the teacher targets computed once, then
    N seeds are trained, exported and measured, each in OUT/seeds/seed-S/; OUT/ gets the shipped
    seed's files (`spread.SHIPPED_RULE`) and a report whose `repeats` section has every accuracy
    figure as mean ± sd and per-seed values.

    Args:
        cfg: the run configuration (`config.from_argv`).

    Returns:
        The report, a dict.

    Raises:
        BrillssonError: bad settings, data or teacher, a busy output folder or a full disk
            (`pipeline.errors`; the command line turns each into one `error:` line).
    """
    layout = Layout(cfg.out_dir)
    if os.path.exists(layout.root) and not os.path.isdir(layout.root):
        raise ConfigError(f"--out {layout.root}: exists and is not a folder; name a folder (new or a previous run's)")
    try:
        with OutputLock(layout.root):
            return _run_locked(cfg, layout)
    except Exception as e:  # OSError from Python, an OpError from TensorFlow's own writers
        if getattr(e, "errno", None) != errno.ENOSPC and "No space left on device" not in str(e):
            raise
        where = os.path.dirname(e.filename) if getattr(e, "filename", None) else layout.root
        free = shutil.disk_usage(where if os.path.isdir(where) else layout.root).free
        raise DiskFull(
            f"{where}: no space left on the device ({free / 2**20:.0f} MiB free; a run of the demo "
            "writes about 72 MB, a large corpus its teacher cache and checkpoints on top). Free space "
            "and rerun with the same --out: finished work is kept, nothing half-written is "
            "trusted"
        ) from None


def _run_locked(cfg, layout):
    t0 = time.time()
    log.info(f"output folder: {layout.root}")

    if cfg.train.strategy == "multiworker":  # it configures the collective ops: before any other TensorFlow op
        log.info(f"multiworker: {workers.describe()}")
        distill.get_strategy("multiworker")
    targets.check_teacher(cfg)  # before decoding hours of audio
    corpus, goal = extract.clips_and_targets(cfg, layout)  # --data-format shards: on disk, streamed
    if cfg.train.strategy == "multiworker" and not workers.is_chief():
        return workers.train_only(cfg, corpus, goal, layout, t0)
    if cfg.repeats == 1:
        r = train_and_measure(cfg, corpus, goal, layout)
    else:
        seeds = [cfg.seed + i for i in range(cfg.repeats)]
        folders = [Layout(layout.path("seeds", f"seed-{seed}")) for seed in seeds]
        reports = []
        for i, (seed, folder) in enumerate(zip(seeds, folders)):
            log.info(f"repeats: seed {seed} ({i + 1} of {len(seeds)})")
            tf_keras_reset()
            reports.append(train_and_measure(dataclasses.replace(cfg, seed=seed), corpus, goal, folder))
            report.write(folder, reports[-1])
        combined = spread.combine(reports, seeds)
        i_shipped = seeds.index(combined["shipped_seed"])
        shipped = reports[i_shipped]
        _ship(folders[i_shipped], layout, shipped["files"])
        r = {**shipped, "repeats": combined}
        for k, e in enumerate(combined["exits"], 1):
            log.info(f"repeats: exit {k} accuracy {spread.fmt(e['accuracy'])} over seeds {seeds}")
        log.info(f"repeats: shipped seed {combined['shipped_seed']}: {spread.SHIPPED_RULE}")
    if cfg.export.android:
        log.info(f"android: assets copied to {copy_to_android(layout, cfg.export.android)}")
    r["wall_seconds"] = round(time.time() - t0, 1)
    written = report.write(layout, r)
    if goal.stand_in:
        log.warning("NOTE: the teacher was a stand-in, not TRILLsson.")
    log.info(f"done in {r['wall_seconds']:.0f} s. Files in {layout.root}:")
    for p in (
        [layout.path(f) for f in r["files"]]
        + written
        + r.get("eval", {}).get("files", [])
        + (r.get("curves") or {}).get("files", [])
    ):
        log.info(f"  {p}")
    return r


def tf_keras_reset():
    """Free the previous seed's Keras state before the next one is built (seeds are set again in training)."""
    import tensorflow as tf

    tf.keras.backend.clear_session()


def call(argv=None, prog="pipeline/run.py") -> dict:
    """`python pipeline/run.py [flags]` and `brillsson run [flags]`: parse, configure logging, run;
    returns the report (a typed error: `SystemExit("error: …")`, status 1)."""
    from pipeline import config
    from pipeline import log as log_setup

    def command():
        cfg = config.from_argv(argv, prog=prog, description=usage.summary(__doc__))
        log_setup.configure(quiet=cfg.quiet)
        return run(cfg)

    return as_command(command)


def main(argv=None, prog="pipeline/run.py") -> int:
    """The command: `call(argv)`, then exit status 0."""
    call(argv, prog=prog)
    return 0


if __name__ == "__main__":
    sys.exit(main())
