"""Stage 3, teacher targets → trained student: build the BNN under the chosen tf.distribute
strategy, distil at every exit, train a classifier head per exit, optionally fine-tune jointly.

```python
from pipeline import student
trained = student.train_student(corpus, targets, cfg, layout)
trained.model, trained.key, trained.section()      # report.json "student"
```
Each finished phase saves its weights (OUT/checkpoints/student-<key>-<phase>.weights.h5) and
the whole training OUT/checkpoints/student-<key>.weights.h5, so a rerun skips what is done;
an interrupted phase continues from its last epoch (BackupAndRestore). The key hashes the
data, teacher, student and train sections of the configuration, the seed, the labels and
the teacher's identity: a checkpoint is only reused by the same training.
"""

import dataclasses
import json
import logging
import os
import uuid
from typing import List, Optional

import numpy as np
import tensorflow as tf

from models import students
from models.frontend import framing
from pipeline import augment as augment_lib
from export import clips
from export.files import atomic_write, read_json
from pipeline import calibrate, config, curves, distill, evaluate
from pipeline.log import progress_bars

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainedStudent:
    model: tf.keras.Model
    family: str
    key: str
    checkpoint: str
    epoch_seconds: List[float]  # distillation epochs run by this call (empty when reused)
    mode: str = "deterministic"  # distill.MODES
    temperatures: Optional[List[float]] = None  # per exit, folded into the classifiers (None: not calibrated)
    classifier_weights: str = "float32"  # "int8": the classifiers rounded to the int8 grid after training

    @property
    def exits(self):
        return len(students.exit_names(self.model))

    def section(self):
        """report.json "student"."""
        return {
            "family": self.family,
            "exits": self.exits,
            "params": int(self.model.count_params()),
            "key": self.key,
            "checkpoint": self.checkpoint,
            "training_mode": self.mode,
            "temperatures": self.temperatures,
            "classifier_weights": self.classifier_weights,
        }


def save(model, path):
    """Save the weights atomically: a temporary file (flushed to disk), then a rename."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), f".tmp-{uuid.uuid4().hex}-{os.path.basename(path)}")
    try:
        model.save_weights(tmp)  # the name must end in .weights.h5: Keras picks the format by it
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def reuse(model, path):
    """Load finished weights if `path` holds them; an unreadable or mismatched file is reported,
    removed and the phase recomputed (False)."""
    if not os.path.exists(path):
        return False
    before = model.get_weights()
    try:
        model.load_weights(path)
        return True
    except Exception as e:  # h5py, Keras and TensorFlow raise several types for a torn or foreign file
        model.set_weights(before)  # a load that failed half-way must not leave half its weights behind
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        log.warning(
            f"warning: {path}: unreadable or mismatched checkpoint ({reason}); it is removed and that "
            "training is done again"
        )
        os.remove(path)
        return False


def calibrate_exits(model, split):
    """Fit each exit's temperature on the labelled clips of `split` and fold it into its classifier
    (kernel and bias / T: the exported files need no extra op); returns the temperatures."""
    probs = clips.keras_predict(model, split)  # a corpus.Split or a shards.StreamedSplit, a batch at a time
    temperatures = []
    for name in students.exit_names(model):
        t = calibrate.fit_temperature(probs[name], split.labels)
        layer = model.get_layer(name)
        layer.kernel.assign(layer.kernel / t)
        layer.bias.assign(layer.bias / t)
        temperatures.append(round(t, 4))
    return temperatures


class TwinGuide:
    """The float twin as a second teacher (`--twin-teacher W`): exit k's distillation target becomes
    W × the trained twin's exit-k embedding + (1 - W) × the teacher's, both of the clean clip. `twin` is
    the trained twin's Keras model (`train_student(..., float_twin=True).model`)."""

    def __init__(self, targets, cfg, model, twin):
        self.weight = cfg.train.twin_teacher
        self.names = students.exit_names(model, students.EMBEDDING)
        self.scale = distill.target_scale(targets.distillation())  # the twin's outputs are in these units
        log.info(f"student: the float twin guides the binary student ({self.weight} of each exit's target)")
        self.twin = twin

    def targets(self, audio, teacher_embeddings):
        """{exitK_embedding: [n, dim]} in the teacher's units (audio [n, versions, samples]: [n, versions, dim])."""
        out = self.twin.predict(audio.reshape(-1, audio.shape[-1]), verbose=0)
        w = self.weight
        return {
            n: (1.0 - w) * teacher_embeddings + w * np.asarray(out[n]).reshape(teacher_embeddings.shape) * self.scale
            for n in self.names
        }


def frontend(s):
    """`LogMel` settings of the student section: the front end's kind, its filters' precision, the window
    (`window_ms`; the FFT the next power of two) and the hop (`hop_ms`) in samples."""
    return {"kind": s.frontend, "filters": s.frontend_filters, **framing(s.window_ms, s.hop_ms)}


def build_model(corpus, targets, cfg, float_twin=False):
    """The untrained student for `corpus` and `targets` under the configured strategy (its float twin:
    the same network with full-precision convolutions, `students.float_twin`)."""
    s = cfg.student
    with distill.get_strategy(cfg.train.strategy).scope():
        if float_twin:
            return students.float_twin(build_model(corpus, targets, cfg))
        return students.build(
            s.family,
            num_classes=len(corpus.labels),
            embedding_dim=targets.dim,
            exits=s.exits,
            clip_samples=cfg.data.clip_samples,
            width=s.width,
            depth=s.depth,
            block=s.block,
            spec_augment=s.spec_augment,
            seed=cfg.seed,
            head_pool=s.head_pool,
            embedding_pool=s.embedding_pool,
            aggregate=s.aggregate,
            num_mel_bins=s.mel_bins,
            frontend=frontend(s),
        )


def training_key(corpus, targets, cfg, float_twin=False):
    """What the trained weights depend on (see the module docstring). The twin's never depend on
    `twin_teacher` or `twin_init`, which only guide the binary student."""
    extra = {"seed": cfg.seed, "labels": list(corpus.labels), "teacher": targets.info["identity"]}
    if float_twin:
        return config.key(
            cfg.data,
            cfg.teacher,
            cfg.student,
            dataclasses.replace(cfg.train, twin_teacher=0.0, twin_init=False),
            extra={**extra, "float_twin": True},
        )
    return config.key(cfg.data, cfg.teacher, cfg.student, cfg.train, extra=extra)


def distillation_set(corpus, targets, views=None, mode="sample"):
    """(audio, teacher embeddings) the student distils on: train + unlabelled clips and their teacher
    views (`pipeline.views`), if any. Mode "add": the views are more clips ([n + views, samples]; an
    epoch costs 1 + K times as much). Mode "sample": every clip in 1 + K versions, the clean one first
    ([n, 1 + K, samples], targets [n, 1 + K, dim]); `distill` draws one per clip per epoch."""
    x, y = corpus.distillation().audio, targets.distillation()
    if views is None or not len(views):
        return x, y
    if mode == "add":
        return np.concatenate([x, views.audio]), np.concatenate([y, views.embeddings])
    n, k = len(x), views.per_clip
    return (
        np.concatenate([x[:, None], views.audio.reshape(n, k, -1)], axis=1),
        np.concatenate([y[:, None], views.embeddings.reshape(n, k, -1)], axis=1),
    )


def train_student(corpus, targets, cfg, layout, float_twin=False, views=None) -> TrainedStudent:
    """Stage 3, targets → student: train the binary student (or its full-precision twin) and return it
    as the run scores and exports it (`finish`: with `int8_weights`, its classifiers on the int8 grid).

    Finished phases are checkpointed under `layout.checkpoints`, keyed by everything that decides the
    weights, so a rerun reuses them.

    Args:
        corpus: the decoded clips.
        targets: the teacher targets (`targets.teacher_targets`).
        cfg: the run configuration.
        layout: the run's output folder.
        float_twin: train the same network and recipe with full-precision convolutions (own checkpoints).
        views: teacher views to distil on as well (`pipeline.views.teacher_views`; made for
            `cfg.train.teacher_views`, which is in the key).

    Returns:
        The `TrainedStudent` (the Keras model and what its training did).
    """
    trained = _train(corpus, targets, cfg, layout, float_twin, views)
    return dataclasses.replace(trained, model=finish(trained.model, cfg), classifier_weights=classifier_weights(cfg))


def _train(corpus, targets, cfg, layout, float_twin=False, views=None) -> TrainedStudent:
    """`train_student` before `finish`: the weights as trained (and checkpointed)."""
    t = cfg.train
    key = training_key(corpus, targets, cfg, float_twin)
    mode = distill.seed_everything(cfg.seed, t.deterministic)  # before the weights are initialised
    model = build_model(corpus, targets, cfg, float_twin)
    family = f"{cfg.student.family} (float twin)" if float_twin else cfg.student.family
    done_all = os.path.join(layout.checkpoints, f"student-{key}.weights.h5")
    facts = os.path.join(layout.checkpoints, f"student-{key}.json")  # what the weights alone do not say
    if reuse(model, done_all):
        log.info(f"student: reusing trained weights {done_all}")
        return TrainedStudent(
            one_device(model, corpus, targets, cfg, float_twin, done_all),
            family,
            key,
            done_all,
            [],
            mode,
            (read_json(facts) or {}).get("temperatures"),
        )
    exit_weights = config.parse_exit_weights(t.exit_weights, cfg.student.exits)
    streamed = getattr(corpus, "streamed", False)  # pipeline.shards: the clips and their targets come from disk
    x, y = (corpus.distillation(), None) if streamed else distillation_set(corpus, targets, views, t.view_mode)
    train_clips = corpus.train if streamed else corpus.train.audio
    common = dict(batch_size=t.batch_size, out_dir=layout.root, verbose=progress_bars(), seed=cfg.seed, tag=key)
    augment = augment_lib.waveform(noise=list(corpus.noise), seed=cfg.seed) if t.augment else False
    train = dict(
        loss=t.loss,
        exit_weights=exit_weights,
        optimizer=t.optimizer,
        augment=augment,
        val_fraction=t.val_fraction,
        patience=t.patience,
    )
    gpus = len(tf.config.list_physical_devices("GPU"))
    log.info(
        f"student: {family}, {cfg.student.exits} exits, {model.count_params():,} parameters, "
        f"{model.distribute_strategy.num_replicas_in_sync} replica(s) ({t.strategy} strategy, "
        f"{gpus} GPU(s) visible)"
    )
    timer = distill.EpochTimer()
    watch = [timer]
    # held-out probes while it learns (not across workers: a probe on one host alone would stall the others)
    if cfg.eval.tasks and cfg.eval.curve_every and not float_twin and t.strategy != "multiworker":
        ensemble = cfg.export.embedding_ensemble  # the curves read the exits as embedding.tflite will
        watch.append(
            curves.ProbeCurve(
                cfg.eval.tasks,
                cfg.eval.curve_every,
                layout.curves,
                tag=f"{key}|ensemble" if ensemble else key,
                seed=evaluate.PROBE_SEED,
                ensemble=ensemble,
            )
        )

    def phase(name, message, fn):
        done = os.path.join(layout.checkpoints, f"student-{key}-{name}.weights.h5")
        if reuse(model, done):
            log.info(f"student: {name} already done, reusing {done}")
            return
        log.info(f"student: {message}")
        fn()
        save(model, done)

    twin = None  # the trained float twin, when the binary student learns from it (trained first, or reused)
    if (t.twin_teacher or t.twin_init) and not float_twin:
        twin = _train(corpus, targets, cfg, layout, float_twin=True, views=views).model  # as trained
    guide = TwinGuide(targets, cfg, model, twin) if t.twin_teacher and not float_twin else None
    if t.twin_init and not float_twin:  # phases already done reload their own weights over these
        log.info("student: starting from the trained float twin's weights (--twin-init)")
        model.set_weights(twin.get_weights())
    ndim = getattr(x, "ndim", 2)  # a stream from shards: plain clips
    seen = (
        f"{len(x)} clips"
        + (f" ({len(views)} of them teacher views)" if ndim == 2 and views else "")
        + (
            f" in {x.shape[1]} versions each (the clip and {x.shape[1] - 1} teacher views, one drawn per epoch)"
            if ndim == 3
            else ""
        )
    )
    phase(
        "distill",
        f"distilling on {seen} for up to {t.epochs} epochs ({t.loss} loss at every exit, "
        f"weights {exit_weights or 'all 1'}, {t.optimizer}, "
        f"{t.val_fraction:.0%} held out for early stopping"
        + (
            f"; targets {t.twin_teacher} x the float twin's exits + {1 - t.twin_teacher:g} x the teacher"
            if guide
            else ""
        )
        + ")",
        lambda: distill.distill(
            model, x, guide.targets(x, y) if guide else y, epochs=t.epochs, lr=t.lr, callbacks=watch, **train, **common
        ),
    )
    phase(
        "heads",
        f"training {cfg.student.exits} classifier heads for {t.head_epochs} epochs (frozen backbone)",
        lambda: distill.train_heads(
            model, train_clips, None if streamed else corpus.train.labels, epochs=t.head_epochs, **common
        ),
    )
    if t.fine_tune_epochs:
        phase(
            "fine_tune",
            f"fine-tuning everything for {t.fine_tune_epochs} epochs (distillation + "
            f"{t.label_weight} x label loss at every exit)",
            lambda: distill.fine_tune(
                model,
                train_clips,
                None if streamed else guide.targets(corpus.train.audio, targets.train) if guide else targets.train,
                None if streamed else corpus.train.labels,
                epochs=t.fine_tune_epochs,
                label_weight=t.label_weight,
                lr=t.lr / 4,
                **train,
                **common,
            ),
        )
    temperatures = None
    if corpus.validation is not None and len(corpus.validation):
        temperatures = calibrate_exits(model, corpus.validation)
        log.info(
            f"student: exit temperatures {temperatures} (fitted on {len(corpus.validation)} validation clips, "
            "folded into the classifiers)"
        )
    atomic_write(facts, json.dumps({"temperatures": temperatures}).encode())
    save(model, done_all)
    return TrainedStudent(
        one_device(model, corpus, targets, cfg, float_twin, done_all),
        family,
        key,
        done_all,
        timer.seconds,
        mode,
        temperatures,
    )


def classifier_weights(cfg):
    """What the trained student's classifiers hold: "int8" (rounded to the int8 grid, stored so exactly)
    when the run stores int8 weights (`int8_weights`, the default), else "float32"."""
    return "int8" if cfg.export.int8_weights else "float32"


def finish(model, cfg):
    """The trained model as the run scores and exports it: with `int8_weights`, every exit's classifier
    rounded to the int8 grid (`students.classifiers_on_int8_grid`), so the classifier files store it as
    int8 exactly and their decisions are the scored model's. The checkpoints keep the weights as trained:
    the rounding is redone on reuse, and a run with `--no-int8-weights` reuses the same training."""
    if cfg.export.int8_weights:
        n = students.classifiers_on_int8_grid(model)
        log.info(f"student: {n} classifiers rounded to the int8 grid (one scale per class; --no-int8-weights: float32)")
    return model


def one_device(model, corpus, targets, cfg, float_twin, weights):
    """A model trained under `multiworker` as a one-device copy with its `weights`: exporting and scoring
    run on each worker alone (a multi-worker model's predict gathers from every worker). Others: as is."""
    if cfg.train.strategy != "multiworker":
        return model
    local = build_model(
        corpus, targets, dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, strategy="default")), float_twin
    )
    local.load_weights(weights)
    return local
