"""The teacher: TRILLsson (or any audio embedder) from TF-Hub or a local SavedModel.

```python
from pipeline import teacher
t = teacher.load("trillsson3")                 # short name, TF-Hub URL or local SavedModel folder
emb = t(audio_batch)                           # float32 [batch, samples] at 16 kHz → [batch, t.dim]
```
Handles: `trillsson1` … `trillsson5` stand for `https://tfhub.dev/google/trillssonN/1`.
URLs are resolved by tensorflow_hub, which keeps downloads in `$TFHUB_CACHE_DIR/<sha1 of
the URL>/` (nothing here overrides it); with that folder present a URL loads offline.
`teacher.hub_cache_folder(handle)` names the folder. A failed load raises
`TeacherUnavailable` with one message saying what failed and how to supply a local copy.

The model is called on float32 audio in [-1, 1], 16 kHz, shape [batch, samples]. Its
output may be a dict (`output_key` picks the entry, default "embedding") or a plain
tensor; [batch, frames, dim] outputs are averaged over frames. The embedding size is read
from the model's output on a probe clip.

When TRILLsson cannot be fetched, `build_stand_in` writes a float SavedModel with
TRILLsson's exact interface (fixed random features), and `brillsson train-teacher` trains a
larger one on labelled task folders (see `pipeline.tools.train_teacher`).
"""

import hashlib
import os
import time

import numpy as np
import tensorflow as tf
import tensorflow_hub as hub
from tensorflow_hub import resolver as hub_resolver

from models.frontend import SAMPLE_RATE, log_mel
from pipeline.errors import TeacherError

TRILLSSON = {f"trillsson{i}": f"https://tfhub.dev/google/trillsson{i}/1" for i in range(1, 6)}
URL_SCHEMES = ("http://", "https://", "gs://")


class TeacherUnavailable(TeacherError):
    """The teacher cannot be found, loaded or run: the message says what failed and what to do."""


def resolve(handle):
    """Short name → TF-Hub URL; URLs and local paths are returned unchanged."""
    return TRILLSSON.get(handle, handle)


def hub_cache_folder(handle):
    """Where tensorflow_hub keeps (or would keep) the download of a URL handle.

    `$TFHUB_CACHE_DIR/<sha1 of the URL>` (tensorflow_hub's own rule, in its
    `compressed_module_resolver`); without TFHUB_CACHE_DIR, `<temp dir>/tfhub_modules/…`.
    """
    url = resolve(handle)
    return os.path.join(hub_resolver.tfhub_cache_dir(use_temp=True), hashlib.sha1(url.encode("utf8")).hexdigest())


def _local_identity(folder):
    """A content identity of a SavedModel folder, so a retrained model is a different teacher."""
    try:
        return tf.saved_model.experimental.read_fingerprint(folder).singleprint()
    except Exception:  # older SavedModels (e.g. TF-Hub downloads) have no fingerprint.pb
        h = hashlib.sha1()
        for name in ("saved_model.pb", os.path.join("variables", "variables.index")):
            p = os.path.join(folder, name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    h.update(f.read())
        return h.hexdigest()


class Teacher:
    """A teacher, loaded on first use: call it on a float32 numpy batch, get [batch, dim] embeddings.

    `calls` counts batches run through the model (the probe at load time is not counted).
    """

    def __init__(self, handle, output_key="embedding"):
        self.handle = resolve(str(handle))
        self.output_key = output_key
        self.is_local = os.path.exists(self.handle)
        if not self.is_local and not self.handle.startswith(URL_SCHEMES):
            raise TeacherUnavailable(
                f"teacher '{handle}' is neither a known name ({', '.join(TRILLSSON)}), "
                f"a URL, nor an existing SavedModel folder"
            )
        if self.is_local:
            self.handle = os.path.abspath(self.handle)
        self.calls = 0
        self.seconds = 0.0
        self._fn = None
        self.dim = None

    @property
    def identity(self):
        """What caches and checkpoints key on: the URL, or a local SavedModel's content fingerprint (a copy
        in another folder is the same teacher; a retrained model is a new one)."""
        return f"savedmodel@{_local_identity(self.handle)}" if self.is_local else self.handle

    @property
    def loaded(self):
        return self._fn is not None

    def _unavailable(self, what, e):
        reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        hint = (
            "  Check that the folder holds a SavedModel (saved_model.pb + variables/)."
            if self.is_local
            else "  Without network, supply a local copy: download the model on a connected machine and pass "
            "its folder with --teacher PATH, or set TFHUB_CACHE_DIR to a folder holding the cached TF-Hub "
            f"download (for this handle: {hub_cache_folder(self.handle)}/ with the SavedModel inside)."
        )
        return TeacherUnavailable(f"{what} teacher '{self.handle}': {reason}\n{hint}")

    def load(self, probe_samples=SAMPLE_RATE):
        """Load the model (download through TF-Hub if needed) and read its embedding size."""
        if self._fn is not None:
            return self
        try:
            module = hub.load(self.handle)
        except Exception as e:  # network, missing files, bad SavedModel: one clear message
            raise self._unavailable("could not load", e) from None
        if callable(module):
            self._fn = module
        elif "serving_default" in getattr(module, "signatures", {}):
            sig = module.signatures["serving_default"]
            name = next(iter(sig.structured_input_signature[1]))
            self._fn = lambda x: sig(**{name: x})
        else:
            raise TeacherUnavailable(
                f"teacher '{self.handle}' is neither callable nor has a serving_default signature taking audio"
            )
        self._module = module
        try:
            probe = self._run(np.zeros((1, probe_samples), np.float32))
        except KeyError as e:
            self._fn = None
            raise TeacherUnavailable(e.args[0]) from None
        except Exception as e:
            self._fn = None
            raise self._unavailable("could not run", e) from None
        self.dim = int(probe.shape[1])
        return self

    def release(self):
        """Drop the model (memory); `calls` and `seconds` stay, a later call loads it again."""
        self._fn = self._module = None

    def _run(self, audio):
        out = self._fn(tf.constant(audio))
        if isinstance(out, dict):
            if self.output_key not in out:
                raise KeyError(
                    f"teacher '{self.handle}' has outputs {sorted(out)}, not '{self.output_key}'; "
                    "pick one with --teacher-output"
                )
            out = out[self.output_key]
        elif isinstance(out, (list, tuple)):
            raise KeyError(
                f"teacher '{self.handle}' returns {len(out)} unnamed outputs; "
                "wrap it to return a dict or a single tensor"
            )
        out = np.asarray(out, np.float32)
        if out.ndim == 3:  # frame-level embeddings → one per clip
            out = out.mean(axis=1)
        if out.ndim != 2 or out.shape[0] != audio.shape[0]:
            raise KeyError(f"teacher '{self.handle}' output has shape {out.shape}; expected [batch, dim]")
        return out

    def __call__(self, audio):
        if self._fn is None:
            self.load(probe_samples=np.shape(audio)[-1])
        audio = np.clip(np.asarray(audio, np.float32).reshape(len(audio), -1), -1.0, 1.0)
        t0 = time.perf_counter()
        out = self._run(audio)
        self.calls += 1
        self.seconds += time.perf_counter() - t0
        return out


class StandInTeacher(tf.Module):
    """A float embedder with TRILLsson's interface, for offline runs.

    Per-clip normalised log-mel → `embedding_dim / 2` fixed, seeded random filters spanning
    `kernel_frames` frames and every mel band → ReLU → mean and max over time, standardised
    with statistics of the calibration clips. Random convolutional features like these
    separate words and voices well under a linear probe, so the student has something real
    to copy, but this is not TRILLsson.
    """

    def __init__(self, calibration_audio, embedding_dim=1024, kernel_frames=15, num_mel_bins=64, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.kernel_frames = kernel_frames
        self.num_mel_bins = num_mel_bins
        self.filters = tf.Variable(
            rng.standard_normal((kernel_frames, num_mel_bins, 1, embedding_dim // 2)).astype(np.float32)
            / np.sqrt(kernel_frames * num_mel_bins),
            trainable=False,
        )
        self.mean = tf.Variable(tf.zeros([embedding_dim // 2 * 2]), trainable=False)
        self.std = tf.Variable(tf.ones([embedding_dim // 2 * 2]), trainable=False)
        feats = self._features(tf.constant(calibration_audio, tf.float32))
        self.mean.assign(tf.reduce_mean(feats, 0))
        self.std.assign(tf.math.reduce_std(feats, 0) + 1e-3)

    def _features(self, audio):
        lm = log_mel(audio, num_mel_bins=self.num_mel_bins)  # [b, t, m]
        mean, var = tf.nn.moments(lm, axes=[1, 2], keepdims=True)
        x = (lm - mean) / tf.sqrt(var + 1e-6)
        half = self.kernel_frames // 2
        x = tf.pad(x, [[0, 0], [half, half], [0, 0]])[..., None]
        y = tf.nn.relu(tf.nn.conv2d(x, self.filters, strides=1, padding="VALID")[:, :, 0, :] - 0.5)
        return tf.concat([tf.reduce_mean(y, 1), tf.reduce_max(y, 1)], -1)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)], autograph=False)
    def __call__(self, audio):
        return {"embedding": (self._features(audio) - self.mean) / self.std}


def build_stand_in(path, calibration_audio, embedding_dim=1024, seed=0):
    """Write a stand-in teacher SavedModel to `path` and return `path`."""
    module = StandInTeacher(np.asarray(calibration_audio, np.float32), embedding_dim, seed=seed)
    tf.saved_model.save(module, str(path))
    return str(path)


def load(handle, output_key="embedding", probe_samples=SAMPLE_RATE):
    """Load a teacher now (raises `TeacherUnavailable` with a clear message)."""
    return Teacher(handle, output_key).load(probe_samples)


def preflight(handle, deferred=False):
    """Check a teacher before the slow work (decoding hours of audio), without loading it.

    A bad name, a missing folder or a folder without a SavedModel fails now; a URL is fetched
    into the TF-Hub cache now (or found there). With `deferred` (the caller brings an
    embedding cache that may already hold every clip) a failed fetch is left for the first
    clip that needs the teacher.
    """
    t = Teacher(handle)
    if t.is_local:
        if not tf.saved_model.contains_saved_model(t.handle):
            raise TeacherUnavailable(f"teacher folder '{t.handle}' holds no SavedModel (saved_model.pb)")
        return t.handle
    try:
        return hub.resolve(t.handle)
    except Exception as e:
        if deferred:
            return None
        raise t._unavailable("could not load", e) from None


def _short(e):
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg[:200]


def embed(teacher, audio, keys, cache, batch_size=32, progress=None, failures=None):
    """Embeddings for every clip, from the cache where present, else from the teacher.

    `keys[i]` is the cache key of `audio[i]`. Returns (embeddings [n, dim], hits, computed).
    Each computed batch is stored before the next one starts, so an interrupted run resumes.
    With a `failures` list, a batch the teacher fails on is retried clip by clip and each clip
    it still fails on (or gives a non-finite embedding for) is appended as (index, reason)
    and gets a NaN row; without one, the first failure raises.
    """
    found = cache.lookup(keys)
    todo = [i for i, k in enumerate(keys) if k not in found]
    out = dict(found)
    t0 = last = time.perf_counter()
    for start in range(0, len(todo), batch_size):
        idx = todo[start : start + batch_size]
        try:
            emb = teacher(audio[idx])
            errors = [None] * len(idx)
        except Exception as e:
            if failures is None or isinstance(e, TeacherUnavailable):
                raise
            emb, errors = [], []
            for i in idx:  # one bad clip must not cost the batch
                try:
                    emb.append(teacher(audio[i : i + 1])[0])
                    errors.append(None)
                except Exception as e1:
                    emb.append(None)
                    errors.append(f"teacher failed on this clip ({_short(e1)})")
        good = []
        for j, (i, err) in enumerate(zip(idx, errors)):
            if err is None and not np.all(np.isfinite(emb[j])):
                err = "teacher gave a non-finite embedding"
            if err is None:
                good.append(j)
            elif failures is None:
                raise ValueError(f"clip {i}: {err}")
            else:
                failures.append((i, err))
        if good:
            batch_keys = [keys[idx[j]] for j in good]
            good_emb = np.stack([emb[j] for j in good])
            cache.add(batch_keys, good_emb)
            out.update(zip(batch_keys, good_emb))
        done = start + len(idx)
        if progress and (time.perf_counter() - last > 2 or done == len(todo)):
            last = time.perf_counter()
            rate = done / max(time.perf_counter() - t0, 1e-9)
            progress(
                f"teacher: {done}/{len(todo)} clips embedded, {rate:.1f} clips/s, "
                f"ETA {(len(todo) - done) / max(rate, 1e-9):.0f} s"
            )
    dim = next(iter(out.values())).shape[0] if out else (getattr(teacher, "dim", None) or 0)
    nan = np.full(dim, np.nan, np.float32)
    return np.stack([out.get(k, nan) for k in keys]) if keys else np.zeros((0, dim), np.float32), len(found), len(todo)
