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
import logging
import os
import shutil
import sys
import time

if __package__ in (None, ""):  # `python pipeline/run.py`: the repository, not pipeline/, on the path
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from export.layout import Layout  # noqa: E402
from pipeline import artifacts, figures, report, student, targets  # noqa: E402
from pipeline.config import RunConfig  # noqa: E402
from pipeline.corpus import load_corpus  # noqa: E402
from pipeline.errors import ConfigError, as_command  # noqa: E402

log = logging.getLogger(__name__)


def copy_to_android(layout, project):
    """Copy what the Android demo reads (stages, portable stages, labels, thresholds) into its assets."""
    assets = os.path.join(project, "app", "src", "main", "assets")
    if not os.path.isdir(os.path.dirname(assets)):
        raise ConfigError(f"{project}: not an Android demo project (no app/src/main)")
    for name in Layout.DEVICE_FILES:
        src, dst = layout.path(name), os.path.join(assets, name)
        if os.path.isdir(src):
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
    return assets


def run(cfg: RunConfig) -> dict:
    """The whole pipeline for one configuration; returns the report (also written to OUT/report.json)."""
    t0 = time.time()
    layout = Layout(cfg.out_dir)
    os.makedirs(layout.root, exist_ok=True)
    log.info(f"output folder: {layout.root}")

    targets.check_teacher(cfg)  # before decoding hours of audio
    corpus = load_corpus(cfg.data, seed=cfg.seed)
    corpus, goal = targets.teacher_targets(corpus, cfg, layout)
    calls_before_training = goal.teacher.calls
    trained = student.train_student(corpus, goal, cfg, layout)
    made = artifacts.export_student(trained.model, corpus.labels, layout)
    figs = figures.measure(trained.model, made, corpus, goal, layout, runs=cfg.export.runs)

    teacher_section = goal.section()
    if trained.epoch_seconds:  # the cache at work: training reads it and never calls the teacher
        teacher_section["benchmark"] = {"teacher_calls_after_first_pass": goal.teacher.calls - calls_before_training,
                                        "epoch_seconds": trained.epoch_seconds}
    r = {
        "run_name": cfg.run_name,
        "teacher": teacher_section,
        "student": trained.section(),
        "data": corpus.section(),
        "model": made.section(),
        **figs.section(),
        "settings": cfg.flat(),
    }
    if cfg.eval.tasks:
        from pipeline import evaluate
        ev = evaluate.evaluate(layout.root, cfg.eval.tasks, teacher=goal.handle, teacher_output=cfg.teacher.output,
                               seed=cfg.seed, stand_in=goal.stand_in)
        r["eval"] = evaluate.summary(ev)
    if cfg.export.android:
        log.info(f"android: assets copied to {copy_to_android(layout, cfg.export.android)}")
    r["wall_seconds"] = round(time.time() - t0, 1)
    r["files"] = [layout.relative(p) for p in made.files.all() + [made.labels, layout.thresholds]]
    written = report.write(layout, r)
    n_bconv = made.info["op_counts"].get("LceBconv2d", 0)
    log.info(f"model.tflite: {len(made.flatbuffer):,} bytes, {n_bconv} LceBconv2d ops, "
             f"binary MAC fraction {made.info['binary_mac_fraction']:.3f}")
    if goal.stand_in:
        log.warning("NOTE: the teacher was a stand-in, not TRILLsson.")
    log.info(f"done in {r['wall_seconds']:.0f} s. Files in {layout.root}:")
    for p in made.files.all() + [made.labels, layout.thresholds] + written + r.get("eval", {}).get("files", []):
        log.info(f"  {p}")
    return r


def main(argv=None, prog="pipeline/run.py"):
    """`python pipeline/run.py [flags]` and `brillsson run [flags]`: parse, configure logging, run."""
    from pipeline import config
    from pipeline import log as log_setup

    def command():
        cfg = config.from_argv(argv, prog=prog, description=__doc__.split("\n")[0])
        log_setup.configure(quiet=cfg.quiet)
        return run(cfg)
    return as_command(command)


if __name__ == "__main__":
    main()
