"""Stage 2, clips → teacher targets: the teacher's embedding of every clip, computed once and
cached on disk.

```python
from pipeline import targets
targets.check_teacher(cfg)                                   # before decoding: fail fast
corpus, t = targets.teacher_targets(corpus, cfg, layout)     # t.train: [n, dim] embeddings
t.section()                                                  # report.json "teacher"
```
The teacher is loaded only if some clip is not in the cache. A clip the teacher fails on is
dropped: the returned Corpus lacks it and lists it with the skipped files.
"""

import dataclasses
import logging
import os
from typing import Dict, Optional

import numpy as np

from pipeline import teacher as teacher_lib
from pipeline.cache import EmbeddingCache, clip_key
from pipeline.config import STAND_IN

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Targets:
    """Teacher embeddings aligned with the corpus' splits: {"train": [n, dim], ...}."""

    embeddings: Dict[str, np.ndarray]
    dim: int
    handle: str
    stand_in: bool
    info: dict
    teacher: teacher_lib.Teacher = dataclasses.field(compare=False, repr=False)  # released; counts its calls

    train = property(lambda self: self.embeddings["train"])
    test = property(lambda self: self.embeddings["test"])
    validation = property(lambda self: self.embeddings.get("validation"))
    unlabeled = property(lambda self: self.embeddings.get("unlabeled"))

    def distillation(self):
        """Targets of `Corpus.distillation()`: train, then unlabelled."""
        return np.concatenate([self.embeddings[n] for n in ("train", "unlabeled") if n in self.embeddings])

    def section(self):
        """report.json "teacher"."""
        return {"handle": self.handle, "stand_in": self.stand_in, "embedding_dim": self.dim, **self.info}


def check_teacher(cfg):
    """Check the teacher before the slow work (decoding hours of audio); raises `TeacherError`."""
    handle = cfg.teacher_handle
    if handle != STAND_IN:
        teacher_lib.preflight(handle, deferred=bool(cfg.teacher.cache))


def teacher_targets(corpus, cfg, layout, teacher: Optional[teacher_lib.Teacher] = None):
    """Stage 2, clips → teacher targets: embed every clip of `corpus` with the teacher of `cfg` (from the
    cache where possible).

    Args:
        corpus: the decoded clips (`corpus.load_corpus`).
        cfg: the run configuration (`config.RunConfig`).
        layout: the run's output folder (`export.layout.Layout`): the cache and a stand-in teacher go there.
        teacher: a loaded teacher to use instead of loading `cfg`'s (tests, repeated runs).

    Returns:
        (the corpus without the clips the teacher failed on, the `Targets`).
    """
    handle, stand_in = cfg.teacher_handle, cfg.teacher_handle == STAND_IN
    if stand_in:
        handle = layout.teacher
        if not os.path.exists(os.path.join(handle, "saved_model.pb")):
            log.info(f"building a stand-in teacher (TRILLsson's interface) at {handle}")
            teacher_lib.build_stand_in(handle, corpus.train.audio, seed=cfg.seed)
        log.warning(
            "NOTE: using a STAND-IN teacher, not TRILLsson (no network here). "
            "Pass --teacher trillsson3 (or a local TRILLsson folder) for the real one."
        )
    teacher = teacher or teacher_lib.Teacher(handle, cfg.teacher.output)
    cache = EmbeddingCache(cfg.teacher.cache or layout.teacher_cache)
    samples = cfg.data.clip_samples
    emb, dropped, hits, computed = {}, {}, 0, 0
    for name, split in corpus.splits().items():
        keys = [
            clip_key(cache, teacher.identity, i, samples, cfg.teacher.output, piece=name == "unlabeled")
            for i in split.ids
        ]
        failed = []
        emb[name], h, c = teacher_lib.embed(
            teacher, split.audio, keys, cache, batch_size=cfg.train.batch_size, progress=log.info, failures=failed
        )
        hits, computed = hits + h, computed + c
        if failed:
            log.warning(f"teacher: {len(failed)} {name} clips dropped (the teacher failed on them)")
            gone = {i for i, _ in failed}
            emb[name] = emb[name][[i for i in range(len(split)) if i not in gone]]
        dropped[name] = failed
    dim = teacher.dim or max(e.shape[1] for e in emb.values())
    emb = {k: v.reshape(0, dim) if len(v) == 0 else v for k, v in emb.items()}
    teacher.release()  # the model is not needed again; its call counter is
    log.info(
        f"teacher: {computed} clips embedded, {hits} from cache ({teacher.calls} teacher calls"
        f"{f', {teacher.seconds:.1f} s in the teacher' if teacher.calls else ''}); cache {cache.root}"
    )
    info = {
        "output": cfg.teacher.output,
        "identity": teacher.identity,
        "clips_embedded": computed,
        "cache_hits": hits,
        "teacher_calls": teacher.calls,
        "teacher_seconds": round(teacher.seconds, 2),
        "cache": cache.root,
    }
    return corpus.without(dropped), Targets(emb, int(dim), handle, stand_in, info, teacher)
