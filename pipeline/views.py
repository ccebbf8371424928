"""Teacher views: augmented copies of the distillation clips that the teacher embeds as well.

The student normally learns the teacher's embedding of the clean clip from a lightly perturbed
copy (`pipeline.augment`: shift, gain, noise). That only teaches it the teacher's function on
the clips it has. A *view* changes the audio more (another voice, another clip mixed in), and
its target is the teacher's embedding **of the view itself**, so student and teacher always see
the same input ("consistent teaching", Beyer et al. 2022, *Knowledge distillation: A good teacher
is patient and consistent*): the student learns the teacher's function on a much wider set of
inputs, which is what carries over to speech it never saw.

```python
from pipeline import views
v = views.teacher_views(corpus, targets, cfg, layout)   # cfg.train.teacher_views = K views per clip
v.audio, v.embeddings                                    # [n*K, samples], [n*K, dim]
student.train_student(corpus, targets, cfg, layout, views=v)
```
View kinds (`--view-kinds`, applied in this order to each view):

- ``speed``: resampled by a factor in [0.85, 1.15] (tempo and pitch together, as `sox speed`:
  a new pseudo-voice, with formants moved);
- ``mix``: another distillation clip added at a signal-to-interference ratio in [0, 15] dB.

The views are drawn from a seed (the same clips, seed and kinds give the same views) and their
embeddings are cached with the teacher's other embeddings: the key hashes the view's recipe and
the keys of the clips it is made of (so a changed file or teacher never reuses a stale view).
"""

import dataclasses
import hashlib
import json
import logging
from typing import Dict, Sequence

import numpy as np

from pipeline import teacher as teacher_lib
from pipeline.cache import EmbeddingCache, clip_key  # the clips' own keys, as stage 2 made them
from pipeline.errors import ConfigError

log = logging.getLogger(__name__)

SPEED_RANGE = (0.85, 1.15)
MIX_SIR_DB = (0.0, 15.0)


def _speed(x, params, partner):
    """Resample by `params["speed"]` (linear interpolation; a faster view is zero-filled at the end)."""
    n = x.shape[0]
    pos = np.arange(n, dtype=np.float64) * params["speed"]
    return np.interp(pos, np.arange(n), x, right=0.0).astype(np.float32)


def _mix(x, params, partner):
    """Add `partner` at `params["sir_db"]` below the clip's power (a silent clip takes it at unit RMS)."""
    p_x = float(np.mean(np.square(x)))
    p_y = float(np.mean(np.square(partner))) + 1e-10
    ref = p_x if p_x > 1e-8 else 1e-2
    y = partner * np.sqrt(ref / p_y / 10 ** (params["sir_db"] / 10))
    return np.clip(x + y, -1.0, 1.0).astype(np.float32)


def _draw_speed(rng):
    return {"speed": round(float(rng.uniform(*SPEED_RANGE)), 4)}


def _draw_mix(rng):
    return {"sir_db": round(float(rng.uniform(*MIX_SIR_DB)), 2)}


# name -> (draw its parameters, apply them); the registry `--view-kinds` chooses from
KINDS = {
    "speed": (_draw_speed, _speed),
    "mix": (_draw_mix, _mix),
}


def check_kinds(kinds: Sequence[str]):
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ConfigError(f"unknown view kind(s) {unknown or kinds}; choose from {sorted(KINDS)}")
    return tuple(kinds)


def plan(n: int, k: int, kinds: Sequence[str], seed: int = 0):
    """The recipe of each of the n*k views: [{"clip": i, "partner": j, "<kind>": params...}], view v of
    clip i at index i*k + v. Depends only on (n, k, kinds, seed)."""
    check_kinds(kinds)
    rng = np.random.default_rng([seed, n, k])
    recipes = []
    for i in range(n):
        for _ in range(k):
            r = {"clip": i, "partner": int((i + rng.integers(1, n)) % n) if n > 1 else i}
            for name in kinds:
                r[name] = KINDS[name][0](rng)
            recipes.append(r)
    return recipes


def render(audio: np.ndarray, recipes) -> np.ndarray:
    """The views' audio [len(recipes), samples] from the clips `audio` [n, samples]."""
    out = np.empty((len(recipes), audio.shape[1]), np.float32)
    for m, r in enumerate(recipes):
        x = audio[r["clip"]]
        for name in KINDS:  # a fixed order: speed before mix, so the partner keeps its own voice
            if name in r:
                x = KINDS[name][1](x, r[name], audio[r["partner"]])
        out[m] = x
    return out


def view_key(clip_key: str, partner_key: str, recipe) -> str:
    """Cache key of a view: its clip's and partner's cache keys and its recipe (not the clip indices)."""
    spec = {k: v for k, v in recipe.items() if k not in ("clip", "partner")}
    return hashlib.sha1(f"view|{clip_key}|{partner_key}|{json.dumps(spec, sort_keys=True)}".encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Views:
    """Augmented distillation clips and the teacher's embedding of each (aligned rows, clip by clip)."""

    audio: np.ndarray  # [n * per_clip, samples]: view v of clip i at i * per_clip + v
    embeddings: np.ndarray  # [n * per_clip, dim]
    info: Dict
    per_clip: int = 1

    def __len__(self):
        return len(self.audio)

    def section(self):
        """report.json "teacher"["views"]."""
        return dict(self.info)


def teacher_views(corpus, targets, cfg, layout, teacher=None) -> Views:
    """`cfg.train.teacher_views` views of every distillation clip (`cfg.train.view_kinds`, seeded by
    `cfg.seed`), embedded by the teacher (cached in the teacher cache). A view the teacher fails on is
    replaced by its clean clip and target, so the rows stay aligned with the clips."""
    t = cfg.train
    k, kinds = t.teacher_views, check_kinds(t.view_kinds)
    clips = corpus.distillation()
    n_train = len(corpus.train)
    cache = EmbeddingCache(cfg.teacher.cache or layout.teacher_cache)
    teacher = teacher or targets.teacher  # released after stage 2: loaded again only if a view is not cached
    base = [
        clip_key(cache, targets.info["identity"], i, cfg.data.clip_samples, cfg.teacher.output, piece=j >= n_train)
        for j, i in enumerate(clips.ids)
    ]
    recipes = plan(len(clips), k, kinds, seed=cfg.seed)
    audio = render(clips.audio, recipes)
    keys = [view_key(base[r["clip"]], base[r["partner"]], r) for r in recipes]
    log.info(f"views: {len(recipes)} teacher views ({k} per clip: {', '.join(kinds)}) of {len(clips)} clips")
    failed = []
    emb, hits, computed = teacher_lib.embed(
        teacher, audio, keys, cache, batch_size=t.batch_size, progress=log.info, failures=failed
    )
    emb = np.asarray(emb, np.float32)
    if failed:  # the clean clip stands in for a view the teacher failed on: view m stays view m
        log.warning(f"views: the teacher failed on {len(failed)} views; their clean clips stand in")
        clean = targets.distillation()
        for m, _ in failed:
            audio[m], emb[m] = clips.audio[recipes[m]["clip"]], clean[recipes[m]["clip"]]
    teacher.release()
    info = {
        "per_clip": k,
        "kinds": list(kinds),
        "mode": t.view_mode,
        "views": int(len(audio)),
        "embedded": computed,
        "cache_hits": hits,
        "replaced": len(failed),
    }
    return Views(audio, emb, info, k)
