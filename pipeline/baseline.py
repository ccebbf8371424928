"""The baseline a user would pick instead, trained in the same run: a standard int8 keyword model
(`models.baselines`, DS-CNN by default) on the same labels and front end, converted with TensorFlow's
stock converter to int8 and run with stock TFLite (XNNPACK, 1 thread). `pipeline.figures` times it
round-robin with the binary exits and scores it on the same test clips.

```python
from pipeline import baseline
b = baseline.train_baseline(corpus, cfg, layout)   # Baseline: name, path (int8 .tflite), key
b.path                                             # OUT/baseline/ds_cnn_int8.tflite
b.float_path                                       # OUT/baseline/ds_cnn_float.tflite, before quantization
```
Weights are checkpointed like the student's (a rerun with the same settings reuses them); the int8
file is written atomically.
"""

import dataclasses
import logging
import os

import numpy as np

from export import convert
from export.files import atomic_write
from models import baselines
from models.frontend import SAMPLE_RATE
from pipeline import augment as augment_lib
from pipeline import config, distill
from pipeline.log import progress_bars
from pipeline.student import frontend, reuse, save

log = logging.getLogger(__name__)
FOLDER = "baseline"
REPRESENTATIVE_CLIPS = 128  # activation ranges for int8: this many training clips, seeded


@dataclasses.dataclass(frozen=True)
class Baseline:
    name: str
    path: str  # the int8 flatbuffer
    float_path: str  # the same network before quantization (stock TFLite, float32): what int8 costs
    key: str  # what its weights depend on
    params: int
    hop_ms: float

    def section(self):
        return {
            "name": self.name,
            "path": os.path.join(FOLDER, os.path.basename(self.path)),
            "float_path": os.path.join(FOLDER, os.path.basename(self.float_path)),
            "params": self.params,
            "hop_ms": self.hop_ms,
            "runtime": "stock TFLite + XNNPACK, int8 (post-training quantization; the front end float), 1 thread",
        }


def train_baseline(corpus, cfg, layout) -> Baseline:
    """Train `cfg.eval.baseline` on the labelled training clips and write its int8 file and, to show
    what the quantization costs, its float one.

    Args:
        corpus: the run's clips (`corpus.Corpus`, in memory).
        cfg: the run's configuration; the baseline uses the student's front end kind, window and mel
            bands with its own recipe's hop (`eval.baseline_hop_ms`) and `eval.baseline_epochs`.
        layout: the run's output folder.

    Returns:
        The `Baseline`.
    """
    e, s = cfg.eval, cfg.student
    settings = {**frontend(s), "frame_step": int(round(e.baseline_hop_ms * SAMPLE_RATE / 1000))}
    key = config.key(
        cfg.data,
        s,
        extra={
            "baseline": e.baseline,
            "epochs": e.baseline_epochs,
            "seed": cfg.seed,
            "hop": e.baseline_hop_ms,
            "batch": cfg.train.batch_size,
            "labels": list(corpus.labels),
        },
    )
    distill.seed_everything(cfg.seed, cfg.train.deterministic)
    model = baselines.build(
        e.baseline,
        num_classes=len(corpus.labels),
        clip_samples=cfg.data.clip_samples,
        num_mel_bins=s.mel_bins,
        frontend=settings,
        seed=cfg.seed,
    )
    weights = os.path.join(layout.checkpoints, f"baseline-{key}.weights.h5")
    if reuse(model, weights):
        log.info(f"baseline: reusing trained weights {weights}")
    else:
        log.info(
            f"baseline: training {e.baseline} ({model.count_params():,} parameters, float) on "
            f"{len(corpus.train)} labelled clips for up to {e.baseline_epochs} epochs"
        )
        augment = augment_lib.waveform(noise=list(corpus.noise), seed=cfg.seed) if cfg.train.augment else False
        distill.train_classifier(
            model,
            corpus.train.audio,
            corpus.train.labels,
            epochs=e.baseline_epochs,
            batch_size=cfg.train.batch_size,
            augment=augment,
            val_fraction=cfg.train.val_fraction,
            patience=cfg.train.patience,
            out_dir=layout.root,
            verbose=progress_bars(),
            seed=cfg.seed,
            tag=key,
        )
        save(model, weights)
    pick = np.random.default_rng(cfg.seed).permutation(len(corpus.train))[:REPRESENTATIVE_CLIPS]
    path = atomic_write(
        layout.path(FOLDER, f"{e.baseline}_int8.tflite"), convert.to_int8(model, corpus.train.audio[np.sort(pick)])
    )
    log.info(f"baseline: {path} ({os.path.getsize(path):,} bytes, int8)")
    float_path = atomic_write(layout.path(FOLDER, f"{e.baseline}_float.tflite"), convert.to_portable(model))
    return Baseline(e.baseline, path, float_path, key, model.count_params(), e.baseline_hop_ms)
