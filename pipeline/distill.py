"""Training: distil the teacher's embedding at every exit, a classifier head per exit, then
optionally a joint fine-tune.

```python
from pipeline import distill
strategy = distill.get_strategy("default")          # or "mirrored" (GPUs), "multiworker" (hosts)
with strategy.scope():                               # build under the scope; compile happens in it too
    model = students.build("quicknet", spec_augment=True)
scale = distill.distill(model, audio, teacher_emb, epochs=20, loss="cosine",
                        exit_weights=[0.5, 0.75, 1], optimizer="bop", out_dir="OUT")
distill.train_heads(model, audio, labels, epochs=20, out_dir="OUT")
distill.fine_tune(model, audio, teacher_emb, labels, epochs=5, label_weight=1.0, out_dir="OUT")
```
Every phase keeps a backup every epoch (`tf.keras.callbacks.BackupAndRestore` under
OUT/checkpoints/<phase>_backup), so a killed run continues from its last finished epoch when
rerun with the same `out_dir`; holds out a seeded `val_fraction` of its clips and stops
early when their loss has not improved for `patience` epochs (best weights restored); and
writes TensorBoard logs under OUT/logs/<phase>. Models and optimizers are compiled under
the strategy the model was built in (`model.distribute_strategy`), so the same code trains
on one CPU, on every local GPU (mirrored) or on several hosts (multiworker, TF_CONFIG).
"""

import os
import time

import larq as lq
import numpy as np
import tensorflow as tf

# TensorFlow's public API can switch op determinism on but not off again; a process that runs a
# deterministic training and then a fast one (tests, --repeats) needs both directions.
from tensorflow.python.framework import config as tf_config

from models.students import EMBEDDING, PROBS, exit_names, output_kind
from pipeline import augment as augment_lib
from pipeline.config import parse_exit_weights
from pipeline.errors import ConfigError

# name -> factory
LOSSES = {
    "mse": lambda: tf.keras.losses.MeanSquaredError(),
    "cosine": lambda: tf.keras.losses.CosineSimilarity(axis=-1),
    "l1": lambda: tf.keras.losses.MeanAbsoluteError(),
}
OPTIMIZERS = ("adam", "bop")
STRATEGIES = ("default", "mirrored", "multiworker")


def get_loss(name):
    """The distillation loss `name` (a key of `LOSSES`)."""
    if name not in LOSSES:
        raise ConfigError(f"unknown distillation loss '{name}'; choose one of {sorted(LOSSES)}")
    return LOSSES[name]()


def target_scale(embeddings):
    """One scalar that brings the teacher's embeddings to unit RMS (direction kept)."""
    return float(np.sqrt(np.mean(np.square(embeddings))) + 1e-12)


def exit_targets(teacher_embeddings, names):
    """Each exit's distillation target at unit RMS, and the scale divided out. `teacher_embeddings` is
    one [n, dim] array for every exit, or {exit embedding name: [n, dim]} (e.g. `student.TwinGuide`)."""
    if isinstance(teacher_embeddings, dict):
        scale = target_scale(np.concatenate([teacher_embeddings[n] for n in names]))
        return {n: teacher_embeddings[n] / scale for n in names}, scale
    scale = target_scale(teacher_embeddings)
    return {n: teacher_embeddings / scale for n in names}, scale


_MULTIWORKER = []  # one per process: it configures the collective ops, before any other TensorFlow op


def get_strategy(name="default"):
    """tf.distribute strategy by name: "default" (one device: the first GPU if there is one,
    else the CPU), "mirrored" (every local GPU), "multiworker" (hosts listed in TF_CONFIG; made once
    per process, and before TensorFlow runs anything else: `pipeline.run` asks for it first)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if not _MULTIWORKER:
            _MULTIWORKER.append(tf.distribute.MultiWorkerMirroredStrategy())
        return _MULTIWORKER[0]
    raise ConfigError(f"unknown distribution strategy '{name}'; choose one of {list(STRATEGIES)}")


MODES = ("deterministic", "fast")


def seed_everything(seed, deterministic=True):
    """Seed Python, NumPy and TensorFlow and set TensorFlow's op determinism; returns the mode's name.

    Deterministic: the same seed on the same machine gives the same weights (op determinism on,
    the augmentation map runs clips in order). Fast: multi-threaded augmentation and kernels free
    to pick non-deterministic algorithms; runs differ slightly even with one seed.
    """
    tf.keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()
    return MODES[0] if deterministic else MODES[1]


def _schedule(lr, steps):
    return tf.keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, steps), alpha=0.05)


def make_optimizer(name="adam", lr=2e-3, steps=1, bop_threshold=1e-8, bop_gamma=1e-4):
    """ "adam": Adam with cosine-decayed `lr` on every weight (binary kernels train their latent
    weights, kept in [-1, 1] by their weight_clip constraint). "bop": larq's Bop flips the
    binary kernels (`CaseOptimizer`), Adam trains the rest."""
    if name == "adam":
        return tf.keras.optimizers.Adam(_schedule(lr, steps))
    if name == "bop":
        return lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop(threshold=bop_threshold, gamma=bop_gamma)),
            default_optimizer=tf.keras.optimizers.legacy.Adam(_schedule(lr, steps)),
        )
    raise ConfigError(f"unknown optimizer '{name}'; choose one of {list(OPTIMIZERS)}")


def holdout(n, fraction, seed=0):
    """Seeded split of n clips → (train indices, validation indices); no validation when
    `fraction` would leave fewer than one clip on either side."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"validation fraction must be in [0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction))
    if n_val < 1 or n - n_val < 1:
        return np.arange(n), np.arange(0)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _take(x, idx):
    return {k: v[idx] for k, v in x.items()} if isinstance(x, dict) else x[idx]


def _versions(seed=None):
    """A clip given in several versions (audio [versions, samples], targets [versions, dim]) → one of
    them: drawn afresh every epoch (seeded generator) when `seed` is given, else the first (validation)."""
    gen = tf.random.Generator.from_seed(seed + 7919) if seed is not None else None

    def fn(x, y):
        v = gen.uniform([], 0, tf.shape(x)[0], dtype=tf.int32) if gen is not None else 0
        return x[v], tf.nest.map_structure(lambda t: t[v] if t.shape.rank >= 2 else t, y)

    return fn


def _dataset(x, y, batch_size, seed=None, augment=None):
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if seed is not None:
        ds = ds.shuffle(len(x), seed=seed)
    parallel = None if tf_config.is_op_determinism_enabled() else tf.data.AUTOTUNE
    if np.ndim(x) == 3:  # teacher views, "sample" mode (see `distill`)
        ds = ds.map(_versions(seed), num_parallel_calls=parallel)
    if augment:  # a stateful random generator draws in the order clips are mapped: in order when deterministic
        ds = ds.map(augment_lib.waveform() if augment is True else augment, num_parallel_calls=parallel)
    options = tf.data.Options()  # in-memory arrays: multi-worker shards by element, not by file
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)


def _callbacks(out_dir, phase, validate=False, patience=None, tag="", extra=()):
    """Backup first (an interrupted epoch never reaches the others), then `extra`, TensorBoard,
    early stopping."""
    cbs = []
    if out_dir:
        suffix = f"-{tag}" if tag else ""
        cbs.append(tf.keras.callbacks.BackupAndRestore(os.path.join(out_dir, "checkpoints", f"{phase}_backup{suffix}")))
    cbs += list(extra)
    if out_dir:
        cbs.append(
            tf.keras.callbacks.TensorBoard(os.path.join(out_dir, "logs", phase), write_graph=False, profile_batch=0)
        )
    if validate and patience:
        cbs.append(tf.keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True))
    return cbs


class EpochTimer(tf.keras.callbacks.Callback):
    """Wall time of each epoch, in seconds (`seconds`)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(round(time.perf_counter() - self._t0, 3))


def _set_trainable(model, heads_only):
    """Distillation trains everything but the classifiers; the head phase trains only them."""
    for layer in model.layers:
        layer.trainable = (output_kind(layer.name) == PROBS) == heads_only


def is_stream(x):
    """Clips streamed from disk (`pipeline.shards.Stream`: audio, labels and teacher embeddings) rather than
    an array; `distill`, `train_heads` and `fine_tune` take either."""
    return hasattr(x, "datasets")


def _fit(
    model,
    x,
    y,
    *,
    phase,
    epochs,
    batch_size,
    lr,
    optimizer,
    losses,
    loss_weights=None,
    metrics=None,
    augment=None,
    val_fraction=0.0,
    patience=None,
    out_dir=None,
    verbose=1,
    seed=0,
    callbacks=(),
    tag="",
):
    """Compile under the model's strategy and fit on a seeded train/validation split (`x` a stream: `y` is
    fn(embedding, label) → one clip's targets)."""
    if is_stream(x):
        ds, val_ds, n_train = x.datasets(
            y,
            batch_size,
            seed=seed,
            val_fraction=val_fraction,
            augment=augment_lib.waveform() if augment is True else augment,
            deterministic=tf_config.is_op_determinism_enabled(),
        )
    else:
        train, val = holdout(len(x), val_fraction, seed)
        n_train = len(train)
        ds = _dataset(x[train], _take(y, train), batch_size, seed=seed, augment=augment)
        val_ds = _dataset(x[val], _take(y, val), batch_size) if len(val) else None
    steps = epochs * int(np.ceil(n_train / batch_size))
    with model.distribute_strategy.scope():
        model.compile(make_optimizer(optimizer, lr, steps), loss=losses, loss_weights=loss_weights, metrics=metrics)
    return model.fit(
        ds,
        validation_data=val_ds,
        epochs=epochs,
        verbose=verbose,
        callbacks=_callbacks(out_dir, phase, val_ds is not None, patience, tag, callbacks),
    )


def distill(
    model,
    audio,
    teacher_embeddings,
    epochs=20,
    batch_size=32,
    loss="mse",
    lr=2e-3,
    exit_weights=None,
    augment=True,
    out_dir=None,
    verbose=1,
    seed=0,
    callbacks=(),
    optimizer="adam",
    val_fraction=0.1,
    patience=None,
    tag="",
):
    """Fit every exit's embedding head to the teacher's embedding (scaled to unit RMS; or to a target
    per exit: see `exit_targets`).

    `audio` is [n, samples] with targets [n, dim], or every clip in several versions (the clip and
    its teacher views, `pipeline.views`): audio [n, versions, samples] with targets [n, versions, dim];
    each epoch then sees one version of every clip, drawn afresh (validation: the first).

    `loss` ("mse", "cosine", "l1") at every exit, weighted by `exit_weights` (one per exit,
    default all 1). With `augment` (True for `pipeline.augment.waveform()`, or any tf.data map
    function of (audio, target)), each epoch sees perturbed copies of the clips, targets from
    the clean clips. `callbacks` are extra Keras callbacks. `val_fraction` of the clips
    (seeded) are held out; with `patience`, training stops when their loss stops improving.
    `tag` names this run's backup folder (a different tag never resumes another run's state).
    Returns the scale the targets were divided by: student embedding × scale ≈ teacher's.
    """
    tf.keras.utils.set_random_seed(seed)
    names = exit_names(model, EMBEDDING)
    weights = parse_exit_weights(exit_weights, len(names)) or [1.0] * len(names)
    if is_stream(audio):
        scale = audio.target_scale()
        targets = lambda emb, label: {n: emb / scale for n in names}  # noqa: E731
    else:
        targets, scale = exit_targets(teacher_embeddings, names)
    _set_trainable(model, heads_only=False)
    _fit(
        model,
        audio,
        targets,
        phase="distill",
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        losses={n: get_loss(loss) for n in names},
        loss_weights=dict(zip(names, weights)),
        augment=augment,
        val_fraction=val_fraction,
        patience=patience,
        out_dir=out_dir,
        verbose=verbose,
        seed=seed,
        callbacks=callbacks,
        tag=tag,
    )
    return scale


def train_heads(
    model, audio, labels, epochs=20, batch_size=32, lr=3e-3, out_dir=None, verbose=1, seed=0, callbacks=(), tag=""
):
    """Frozen backbone: train only each exit's classifier (a linear probe on its embedding)."""
    tf.keras.utils.set_random_seed(seed)
    names = exit_names(model)
    _set_trainable(model, heads_only=True)
    y = (lambda emb, label: {n: label for n in names}) if is_stream(audio) else {n: labels for n in names}
    _fit(
        model,
        audio,
        y,
        phase="heads",
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer="adam",
        losses={n: tf.keras.losses.SparseCategoricalCrossentropy() for n in names},
        metrics={n: ["accuracy"] for n in names},
        out_dir=out_dir,
        verbose=verbose,
        seed=seed,
        callbacks=callbacks,
        tag=tag,
    )


def train_classifier(
    model,
    audio,
    labels,
    epochs=60,
    batch_size=32,
    lr=3e-3,
    augment=True,
    val_fraction=0.1,
    patience=None,
    out_dir=None,
    verbose=1,
    seed=0,
    tag="",
):
    """Train a plain classifier (audio → probabilities, one output) on labelled clips, every weight, with
    the distillation's augmentation and schedule: how the in-run baseline (`pipeline.baseline`) learns."""
    tf.keras.utils.set_random_seed(seed)
    _fit(
        model,
        audio,
        labels,
        phase="baseline",
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer="adam",
        losses=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        augment=augment,
        val_fraction=val_fraction,
        patience=patience,
        out_dir=out_dir,
        verbose=verbose,
        seed=seed,
        tag=tag,
    )


def fine_tune(
    model,
    audio,
    teacher_embeddings,
    labels,
    epochs=5,
    batch_size=32,
    loss="mse",
    lr=5e-4,
    exit_weights=None,
    label_weight=1.0,
    augment=True,
    out_dir=None,
    verbose=1,
    seed=0,
    callbacks=(),
    optimizer="adam",
    val_fraction=0.1,
    patience=None,
    tag="",
):
    """Joint fine-tune of every layer: the distillation loss at every exit plus `label_weight` ×
    the cross-entropy of every exit's classifier, both weighted per exit by `exit_weights`.
    Labelled clips only (`labels[i]` is the class of `audio[i]`)."""
    tf.keras.utils.set_random_seed(seed)
    emb_names, prob_names = exit_names(model, EMBEDDING), exit_names(model)
    weights = parse_exit_weights(exit_weights, len(emb_names)) or [1.0] * len(emb_names)
    if is_stream(audio):
        scale = audio.target_scale()

        def targets(emb, label):
            return {**{n: emb / scale for n in emb_names}, **{n: label for n in prob_names}}

    else:
        embedding_targets, scale = exit_targets(teacher_embeddings, emb_names)
        targets = {**embedding_targets, **{n: labels for n in prob_names}}
    losses = {
        **{n: get_loss(loss) for n in emb_names},
        **{n: tf.keras.losses.SparseCategoricalCrossentropy() for n in prob_names},
    }
    loss_weights = {**dict(zip(emb_names, weights)), **{n: label_weight * w for n, w in zip(prob_names, weights)}}
    for layer in model.layers:
        layer.trainable = True
    _fit(
        model,
        audio,
        targets,
        phase="fine_tune",
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        losses=losses,
        loss_weights=loss_weights,
        metrics={n: ["accuracy"] for n in prob_names},
        augment=augment,
        val_fraction=val_fraction,
        patience=patience,
        out_dir=out_dir,
        verbose=verbose,
        seed=seed,
        callbacks=callbacks,
        tag=tag,
    )
    return scale
