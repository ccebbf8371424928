"""Training: distil the teacher's embedding at every exit, then a classifier head per exit.

```python
from pipeline import distill
scale = distill.distill(model, audio, teacher_emb, epochs=20, out_dir="OUT")
distill.train_heads(model, audio, labels, epochs=20, out_dir="OUT")
```
Both phases keep a backup every epoch (`tf.keras.callbacks.BackupAndRestore`), so an
interrupted run continues where it stopped, and write TensorBoard logs under OUT/logs.
"""
import os

import numpy as np

import pipeline  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
import tensorflow as tf

from models.students import exit_names
from pipeline import augment as augment_lib

LOSSES = {
    "mse": lambda: tf.keras.losses.MeanSquaredError(),
    "cosine": lambda: tf.keras.losses.CosineSimilarity(axis=-1),
    "l1": lambda: tf.keras.losses.MeanAbsoluteError(),
}


def get_loss(name):
    if name not in LOSSES:
        raise ValueError(f"unknown distillation loss '{name}'; choose one of {sorted(LOSSES)}")
    return LOSSES[name]()


def target_scale(embeddings):
    """One scalar that brings the teacher's embeddings to unit RMS (direction kept)."""
    return float(np.sqrt(np.mean(np.square(embeddings))) + 1e-12)


def _callbacks(out_dir, phase, verbose):
    cbs = []
    if out_dir:
        cbs.append(tf.keras.callbacks.BackupAndRestore(os.path.join(out_dir, "checkpoints", f"{phase}_backup")))
        cbs.append(tf.keras.callbacks.TensorBoard(os.path.join(out_dir, "logs", phase), write_graph=False,
                                                  profile_batch=0))
    return cbs


def _schedule(lr, steps):
    return tf.keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, steps), alpha=0.05)


def _set_trainable(model, heads_only):
    """Distillation trains everything but the classifiers; the head phase trains only them."""
    for layer in model.layers:
        layer.trainable = layer.name.endswith("_probs") == heads_only


def distill(model, audio, teacher_embeddings, epochs=20, batch_size=32, loss="mse", lr=2e-3,
            exit_weights=None, augment=True, out_dir=None, verbose=1, seed=0):
    """Fit every exit's embedding head to the teacher's embedding (scaled to unit RMS).

    With `augment`, each epoch sees shifted, re-gained, lightly noisy copies of the clips
    (targets from the clean clips; see `pipeline.augment`). Returns the scale the targets
    were divided by: student embedding × scale ≈ teacher's.
    """
    tf.keras.utils.set_random_seed(seed)
    names = [n.replace("_probs", "_embedding") for n in exit_names(model)]
    weights = exit_weights or [1.0] * len(names)
    scale = target_scale(teacher_embeddings)
    targets = {n: teacher_embeddings / scale for n in names}
    _set_trainable(model, heads_only=False)
    steps = epochs * int(np.ceil(len(audio) / batch_size))
    model.compile(tf.keras.optimizers.Adam(_schedule(lr, steps)),
                  loss={n: get_loss(loss) for n in names},
                  loss_weights=dict(zip(names, weights)))
    ds = tf.data.Dataset.from_tensor_slices((audio, targets)).shuffle(len(audio), seed=seed)
    if augment:
        ds = ds.map(augment_lib.waveform(), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    model.fit(ds, epochs=epochs, verbose=verbose, callbacks=_callbacks(out_dir, "distill", verbose))
    return scale


def train_heads(model, audio, labels, epochs=20, batch_size=32, lr=3e-3, out_dir=None, verbose=1, seed=0):
    """Frozen backbone: train only each exit's classifier (a linear probe on its embedding)."""
    tf.keras.utils.set_random_seed(seed)
    names = exit_names(model)
    _set_trainable(model, heads_only=True)
    steps = epochs * int(np.ceil(len(audio) / batch_size))
    model.compile(tf.keras.optimizers.Adam(_schedule(lr, steps)),
                  loss={n: tf.keras.losses.SparseCategoricalCrossentropy() for n in names},
                  metrics={n: ["accuracy"] for n in names})
    model.fit(audio, {n: labels for n in names}, batch_size=batch_size, epochs=epochs, shuffle=True,
              verbose=verbose, callbacks=_callbacks(out_dir, "heads", verbose))
