"""Train a stand-in teacher when TRILLsson is out of reach, saved with TRILLsson's interface.

    brillsson train-teacher --data DIR [--data DIR …] --out TEACHER_DIR \
        [--steps 1500] [--batch-size 64] [--crop-seconds 1.5] [--seed 0] [--widths 32,64,128,256,512]

A float CNN on the per-clip-normalised log-mel spectrogram (5 conv stages, 32 → 512
channels, mean + max pooling over time and frequency, a 2048-unit hidden layer, a
1024-d linear embedding; about 5.8 M parameters) is trained on the labels of every
task folder at once, one softmax head per task on the shared embedding (batches
alternate between tasks; random crops and SpecAugment-style masks). TEACHER_DIR then
holds a SavedModel with TRILLsson's interface, float32 audio [batch, samples] at 16 kHz
(input signature [None, None], any length) → {"embedding": [batch, 1024]}, usable as
`python pipeline/run.py --teacher TEACHER_DIR`, and `teacher.json`: the tasks, the
training settings and the linear-probe test accuracy of the embedding on each task
(`pipeline.probe`, the evaluation's probe: fitted on the train split, scored on the test split).

```python
from pipeline.tools import train_teacher
info = train_teacher.train(["data/keywords"], "TEACHER_DIR", steps=20)
info["probe_accuracy"]        # {"keywords": 0.93}
```
Seeded (and TensorFlow's op determinism is switched on): the same data, settings and seed
give the same teacher.
"""

import json
import logging
import os
import time

import numpy as np
import tensorflow as tf

from export.files import atomic_write
from models.frontend import SAMPLE_RATE, log_mel
from pipeline import audio as audio_io
from pipeline import datasets
from pipeline import probe as probe_lib
from pipeline import teacher as teacher_lib
from pipeline.errors import ConfigError, DataError
from pipeline.log import PROGRESS

layers = tf.keras.layers
log = logging.getLogger(__name__)

NUM_MEL_BINS = 64
FRAME_STEP = 160


@tf.keras.utils.register_keras_serializable(package="pipeline")
class ClipNorm(layers.Layer):
    """Per-clip standardisation of a log-mel image (over time and frequency)."""

    def call(self, x):
        mean, var = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        return (x - mean) / tf.sqrt(var + 1e-6)


def build_trunk(embedding_dim=1024, widths=(32, 64, 128, 256, 512), hidden=2048, dropout=0.3):
    """log-mel [batch, frames, mel] → embedding [batch, embedding_dim]."""
    lm = tf.keras.Input((None, NUM_MEL_BINS), name="log_mel")
    x = layers.Reshape((-1, NUM_MEL_BINS, 1))(ClipNorm()(lm))
    for i, w in enumerate(widths):
        x = layers.Conv2D(w, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.ReLU()(layers.BatchNormalization(name=f"bn{i + 1}")(x))
        if i < len(widths) - 1:
            x = layers.MaxPool2D(2, padding="same")(x)
    x = layers.Concatenate()([layers.GlobalAveragePooling2D()(x), layers.GlobalMaxPooling2D()(x)])
    x = layers.BatchNormalization(name="pool_bn")(x)
    x = layers.Dense(hidden, use_bias=False, name="hidden")(x)
    x = layers.Dropout(dropout)(layers.ReLU()(layers.BatchNormalization(name="hidden_bn")(x)))
    emb = layers.Dense(embedding_dim, name="embedding")(x)
    return tf.keras.Model(lm, emb, name="teacher_trunk")


class TrainedTeacher(tf.Module):
    """TRILLsson's interface around a trained trunk: audio [batch, samples] → {"embedding"}."""

    def __init__(self, trunk):
        super().__init__()
        self.trunk = trunk

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="audio")], autograph=False)
    def __call__(self, audio):
        short = tf.maximum(0, 400 - tf.shape(audio)[1])  # at least one STFT frame
        audio = tf.pad(audio, [[0, 0], [0, short]])
        return {"embedding": self.trunk(log_mel(audio, num_mel_bins=NUM_MEL_BINS), training=False)}


def _features(audio, batch=256):
    return (
        np.concatenate(
            [
                log_mel(tf.constant(audio[i : i + batch]), num_mel_bins=NUM_MEL_BINS).numpy()
                for i in range(0, len(audio), batch)
            ]
        )
        if len(audio)
        else np.zeros((0, 1, NUM_MEL_BINS))
    )


def _clip_samples(clips, sample_rate=SAMPLE_RATE):
    """The usual length of a task's clips: the median of (up to) 16 of them, to 10 ms."""
    lengths = []
    for c in clips[:: max(1, len(clips) // 16)][:16]:
        try:
            lengths.append(len(audio_io.load(c.path, allow_silent=True)))
        except audio_io.AudioError:
            continue
    return int(round(np.median(lengths) / 160) * 160) if lengths else sample_rate


def load_task(root, seed=0, max_seconds=4.0):
    """One task folder → dict(name, labels, clip_samples, train (audio, labels), test (audio, labels), skipped)."""
    try:
        ds = datasets.scan(root, seed=seed)
    except (FileNotFoundError, ValueError) as e:
        raise DataError(str(e)) from None
    n = min(_clip_samples(ds.clips), int(max_seconds * SAMPLE_RATE))
    tr_x, tr_y, _, skipped = datasets.load(ds.split("train"), n, progress=log.info)
    te_x, te_y, _, sk = datasets.load(ds.split("test") or ds.split("validation"), n, progress=log.info)
    name = os.path.basename(os.path.normpath(root))
    return {
        "name": name,
        "root": str(root),
        "labels": ds.labels,
        "clip_samples": n,
        "train": (tr_x, tr_y),
        "test": (te_x, te_y),
        "skipped": skipped + sk,
    }


def _spec_augment(batch, rng, time_masks=2, time_width=12, freq_masks=2, freq_width=8):
    batch = batch.copy()
    fill = batch.mean(axis=(1, 2))
    for b in range(len(batch)):
        for _ in range(time_masks):
            w = rng.integers(0, time_width + 1)
            s = rng.integers(0, max(1, batch.shape[1] - w))
            batch[b, s : s + w, :] = fill[b]
        for _ in range(freq_masks):
            w = rng.integers(0, freq_width + 1)
            s = rng.integers(0, max(1, batch.shape[2] - w))
            batch[b, :, s : s + w] = fill[b]
    return batch


def _crops(feats, idx, frames, rng):
    starts = rng.integers(0, feats.shape[1] - frames + 1, size=len(idx))
    return np.stack([feats[i, s : s + frames] for i, s in zip(idx, starts)])


def probe(teacher, tasks, batch_size=64):
    """Linear-probe test accuracy of `teacher`'s embedding on every task."""
    out = {}
    for t in tasks:
        emb = {
            s: np.concatenate([teacher(t[s][0][i : i + batch_size]) for i in range(0, len(t[s][0]), batch_size)])
            for s in ("train", "test")
        }
        out[t["name"]] = round(probe_lib.probe(emb["train"], t["train"][1], emb["test"], t["test"][1])["accuracy"], 4)
    return out


def train(
    data_dirs,
    out,
    steps=1500,
    batch_size=64,
    crop_seconds=1.5,
    lr=1e-3,
    embedding_dim=1024,
    seed=0,
    label_smoothing=0.1,
    log_every=50,
    widths=(32, 64, 128, 256, 512),
    hidden=2048,
):
    """Train on the task folders `data_dirs`, write the SavedModel + teacher.json to `out`; returns the info."""
    t_start = time.time()
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()  # seeded means reproducible, threads or not
    rng = np.random.default_rng(seed)
    tasks = []
    for root in data_dirs:
        t = load_task(root, seed=seed)
        if len(t["train"][0]) == 0:
            raise DataError(f"no usable training clips in {root}")
        if len(t["labels"]) < 2:
            raise DataError(f"{root} has a single label; a task needs at least two")
        t["feats"] = _features(t["train"][0])
        t["frames"] = min(t["feats"].shape[1], 1 + int(crop_seconds * SAMPLE_RATE - 400) // FRAME_STEP)
        tasks.append(t)
        log.info(
            f"task {t['name']}: {len(t['labels'])} labels, {len(t['train'][0])} train / {len(t['test'][0])} test "
            f"clips of {t['clip_samples'] / SAMPLE_RATE:.2f} s, {len(t['skipped'])} files skipped"
        )
    names = [t["name"] for t in tasks]
    if len(set(names)) != len(names):
        raise ConfigError(f"task folders need distinct names, got {names}")

    trunk = build_trunk(embedding_dim, widths=widths, hidden=hidden)
    heads = {t["name"]: layers.Dense(len(t["labels"]), name=f"head_{t['name']}") for t in tasks}
    head_in = tf.keras.Sequential([layers.LayerNormalization(), layers.Dropout(0.2)], name="head_in")
    head_in.build((None, embedding_dim))
    for t in tasks:
        heads[t["name"]].build((None, embedding_dim))
    params = trunk.count_params() + sum(h.count_params() for h in heads.values())
    log.info(
        f"teacher: float CNN on log-mel, {trunk.count_params():,} parameters in the embedding network "
        f"(+{params - trunk.count_params():,} in {len(heads)} task heads); {steps} steps of {batch_size} clips"
    )
    warmup = min(100, steps // 10)
    schedule = tf.keras.optimizers.schedules.CosineDecay(
        lr if not warmup else 0.0,
        decay_steps=steps - warmup,
        alpha=0.02,
        warmup_target=lr if warmup else None,
        warmup_steps=warmup,
    )
    opt = tf.keras.optimizers.AdamW(schedule, weight_decay=1e-4, global_clipnorm=1.0)
    opt.build(
        trunk.trainable_variables
        + head_in.trainable_variables
        + [v for h in heads.values() for v in h.trainable_variables]
    )
    loss_fn = tf.keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)
    steps_fns = {}

    def make_step(head, classes):
        @tf.function(reduce_retracing=True, autograph=False)  # no Python control flow: tracing stays quick
        def step(x, y):
            with tf.GradientTape() as tape:
                logits = head(head_in(trunk(x, training=True), training=True))
                loss = loss_fn(tf.one_hot(y, classes), logits)
            variables = trunk.trainable_variables + head_in.trainable_variables + head.trainable_variables
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss, tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y), tf.float32))

        return step

    for t in tasks:
        steps_fns[t["name"]] = make_step(heads[t["name"]], len(t["labels"]))
    stats = {t["name"]: [] for t in tasks}
    t0 = time.time()
    for s in range(1, steps + 1):
        t = tasks[(s - 1) % len(tasks)]  # round robin over the tasks
        idx = rng.choice(len(t["feats"]), size=min(batch_size, len(t["feats"])), replace=False)
        x = _spec_augment(_crops(t["feats"], idx, t["frames"], rng), rng)
        loss, acc = steps_fns[t["name"]](tf.constant(x), tf.constant(t["train"][1][idx].astype(np.int32)))
        stats[t["name"]].append((float(loss), float(acc)))
        if s % log_every == 0 or s == steps:
            el = time.time() - t0
            parts = ", ".join(
                f"{n} loss {np.mean([a for a, _ in v[-20:]]):.3f} acc {np.mean([b for _, b in v[-20:]]):.2f}"
                for n, v in stats.items()
                if v
            )
            log.log(PROGRESS, f"step {s}/{steps}: {parts}; {el:.0f} s, ETA {el / s * (steps - s):.0f} s")

    os.makedirs(out, exist_ok=True)
    tf.saved_model.save(TrainedTeacher(trunk), str(out))
    log.info(f"saved the teacher (TRILLsson's interface) to {out}; linear probes on its embedding …")
    loaded = teacher_lib.load(out, probe_samples=SAMPLE_RATE)
    acc = probe(loaded, tasks)
    info = {
        "interface": "float32 audio [batch, samples] at 16 kHz -> {'embedding': [batch, %d]}" % loaded.dim,
        "architecture": f"float CNN on per-clip-normalised log-mel ({NUM_MEL_BINS} bins), conv "
        f"{'-'.join(map(str, widths))}, mean+max pooling, batch norm, dense {hidden} + batch norm, "
        "linear embedding; heads: layer norm + dense per task",
        "embedding_dim": loaded.dim,
        "params": int(trunk.count_params()),
        "tasks": {
            t["name"]: {
                "root": t["root"],
                "labels": t["labels"],
                "clip_seconds": t["clip_samples"] / SAMPLE_RATE,
                "train_clips": len(t["train"][0]),
                "test_clips": len(t["test"][0]),
                "skipped": t["skipped"],
            }
            for t in tasks
        },
        "steps": steps,
        "batch_size": batch_size,
        "crop_seconds": crop_seconds,
        "lr": lr,
        "seed": seed,
        "probe_accuracy": acc,
        "train_seconds": round(time.time() - t0, 1),
        "wall_seconds": round(time.time() - t_start, 1),
    }
    atomic_write(os.path.join(out, "teacher.json"), json.dumps(info, indent=2).encode())
    for name, a in acc.items():
        log.info(f"linear probe, test accuracy on {name}: {a:.3f}")
    log.info(f"done in {info['wall_seconds']:.0f} s; use it with: brillsson run --teacher {out} …")
    return info
