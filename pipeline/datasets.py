"""Labelled task folders → a list of clips with labels and a train/validation/test split.

Layouts (the README's "Your data"):

    DIR/<label>/*.wav                         split made here (seeded) or from Speech Commands' lists
    DIR/train/<label>/… + DIR/test/<label>/…  splits as given

In the flat layout, Speech Commands' own `testing_list.txt` and `validation_list.txt`
(paths relative to DIR, one per line) are honoured when present; otherwise a seeded
split by speaker is made from `<speaker>_nohash_<n>.wav` names (a speaker's clips all
land on one side; other names are their own group). `_background_noise_` is not a
label: its files feed augmentation (`Dataset.noise`). A `_silence_` label may hold
digitally silent clips. Files in a label folder that are not audio (by extension), and
FIFOs, sockets and devices (never opened), are listed in `Dataset.rejected`; dot-files
are ignored. Symbolic links to folders are followed (a link cycle is walked once); a
label or background-noise folder without audio files gets a warning in `Dataset.warnings`.

```python
from pipeline import datasets
ds = datasets.scan("data/keywords")
train, test = ds.split("train"), ds.split("test")      # also "validation" when listed
audio, labels, paths, skipped = datasets.load(train, clip_samples=16000)
noise, skipped_noise = datasets.load_noise(ds.noise)
```
Decoding runs on a thread pool (libsndfile and tensorflow-io's kernels release the GIL); a
file that cannot be used is skipped and listed as {"path", "reason"}, never fatal.
"""

import dataclasses
import hashlib
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from pipeline import audio as audio_io

NOISE_DIR = "_background_noise_"
SILENCE = "_silence_"
NOT_LABELS = {NOISE_DIR}
SPLIT_LISTS = {"test": "testing_list.txt", "validation": "validation_list.txt"}


@dataclasses.dataclass
class Clip:
    path: str
    label: int
    split: str  # "train", "validation" or "test"
    silent_ok: bool = False  # digital silence is the content (a `_silence_` label)


@dataclasses.dataclass
class Dataset:
    root: str
    labels: list
    clips: list
    noise: list = dataclasses.field(default_factory=list)  # background-noise files
    rejected: list = dataclasses.field(default_factory=list)  # [{"path", "reason"}]: not audio
    warnings: list = dataclasses.field(default_factory=list)  # e.g. a label with a single clip, an empty folder

    def split(self, name):
        return [c for c in self.clips if c.split == name]


def _walk(folder):
    """(audio files, other files) under `folder`, sorted, dot-files and dot-folders left out.

    Symbolic links to folders are followed; a folder already walked (by its real path) is
    not walked again, so a link back to an ancestor (or two links to one folder) neither
    loops forever nor lists a file twice.
    """
    found, other, seen = [], [], set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.startswith("."):
                continue
            (found if f.lower().endswith(audio_io.EXTENSIONS) else other).append(os.path.join(dirpath, f))
    return found, other


def _not_audio(paths):
    exts = ", ".join(audio_io.EXTENSIONS)
    out = []
    for p in paths:
        problem = audio_io.file_problem(p)  # a FIFO, socket, device or link cycle is named as such
        if problem and problem.startswith(("not a regular file", "cannot look at file")):
            out.append({"path": p, "reason": problem})
        else:
            out.append(
                {
                    "path": p,
                    "reason": f"not an audio file (extension '{os.path.splitext(p)[1] or 'none'}'; supported: {exts})",
                }
            )
    return out


def _no_audio():
    return f"no audio files found ({', '.join(audio_io.EXTENSIONS)}, at any depth, following symbolic links)"


def _label_dirs(folder):
    return sorted(
        d
        for d in os.listdir(folder)
        if os.path.isdir(os.path.join(folder, d)) and d not in NOT_LABELS and not d.startswith(".")
    )


def _group(path):
    """Speaker group of a Speech-Commands-style name, else the file itself."""
    name = os.path.basename(path)
    return name.split("_nohash_")[0] if "_nohash_" in name else name


def _read_list(root, name):
    p = os.path.join(root, name)
    if not os.path.isfile(p):
        return set()
    with open(p) as f:
        return {os.path.normpath(line.strip()) for line in f if line.strip()}


def _seeded_split(clips, test_fraction, seed):
    """A seeded split by speaker group: a group's clips all land on one side."""
    groups = sorted({_group(c.path) for c in clips})
    random.Random(seed).shuffle(groups)
    n_test = max(1, round(test_fraction * len(groups))) if len(groups) > 1 else 0
    test_groups = set(groups[:n_test])
    for c in clips:
        if _group(c.path) in test_groups:
            c.split = "test"


def scan(root, test_fraction=0.2, seed=0):
    """Find the labels and clips under `root` and assign each clip to train, validation or test."""
    root = str(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: data folder does not exist")
    top = _label_dirs(root)
    rejected, warnings = [], []
    if "train" in top and "test" in top:
        labels = sorted(set(_label_dirs(os.path.join(root, "train"))) | set(_label_dirs(os.path.join(root, "test"))))
        clips = []
        for split in ("train", "test"):
            for lab in _label_dirs(os.path.join(root, split)):
                found, other = _walk(os.path.join(root, split, lab))
                clips += [Clip(p, labels.index(lab), split, lab == SILENCE) for p in found]
                rejected += _not_audio(other)
                if not found:
                    warnings.append(f"label folder {os.path.join(root, split, lab)}: {_no_audio()}")
        noise_dirs = [os.path.join(d, NOISE_DIR) for d in (root, os.path.join(root, "train"))]
    else:
        labels = top
        clips = []
        for i, lab in enumerate(labels):
            found, other = _walk(os.path.join(root, lab))
            clips += [Clip(p, i, "train", lab == SILENCE) for p in found]
            rejected += _not_audio(other)
            if not found:
                warnings.append(f"label folder {os.path.join(root, lab)}: {_no_audio()}")
        lists = {split: _read_list(root, name) for split, name in SPLIT_LISTS.items()}
        if any(lists.values()):  # Speech Commands' own split
            for c in clips:
                rel = os.path.normpath(os.path.relpath(c.path, root))
                c.split = next((s for s, names in lists.items() if rel in names), "train")
        else:
            _seeded_split(clips, test_fraction, seed)
            for i, lab in enumerate(labels):  # a label's only clip is kept for training
                own = [c for c in clips if c.label == i]
                if len(own) == 1 and own[0].split == "test":
                    own[0].split = "train"
        noise_dirs = [os.path.join(root, NOISE_DIR)]
    noise = []
    for d in noise_dirs:
        found = _walk(d)[0]
        noise += found
        if os.path.isdir(d) and not found:
            warnings.append(f"background-noise folder {d}: {_no_audio()}")
    if not labels or not clips:
        raise ValueError(
            f"{root}: no labelled audio found (expected {root}/<label>/*.wav "
            f"or {root}/train/<label>/… and {root}/test/<label>/…)"
        )
    for i, lab in enumerate(labels):
        own = [c for c in clips if c.label == i]
        if len(own) < 2:
            warnings.append(
                f"label '{lab}' has {len(own)} clip{'s' * (len(own) != 1)}; "
                "it is kept, but cannot be learnt or tested reliably"
            )
        elif not any(c.split == "train" for c in own):
            warnings.append(f"label '{lab}' has no training clips")
        elif not any(c.split == "test" for c in own):
            warnings.append(f"label '{lab}' has no test clips")
    return Dataset(root, labels, clips, noise, rejected, warnings)


def _decode_all(paths, sample_rate, allow_silent, workers, progress, what="files"):
    """Yield (path, samples or None, AudioError or None) in order, decoding on a thread pool."""
    workers = workers or min(8, os.cpu_count() or 2)
    silent = allow_silent if isinstance(allow_silent, (list, tuple)) else [allow_silent] * len(paths)

    def one(i):
        try:
            return paths[i], audio_io.load(paths[i], sample_rate, allow_silent=silent[i]), None
        except audio_io.AudioError as e:
            return paths[i], None, e

    t0 = last = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for n, result in enumerate(pool.map(one, range(len(paths))), 1):
            if progress and (time.perf_counter() - last > 5 or n == len(paths)) and len(paths) > 100:
                last = time.perf_counter()
                rate = n / max(last - t0, 1e-9)
                progress(f"decoding: {n}/{len(paths)} {what}, {rate:.0f} files/s, ETA {(len(paths) - n) / rate:.0f} s")
            yield result


def load(clips, clip_samples, sample_rate=audio_io.SAMPLE_RATE, workers=None, progress=None):
    """Decode `clips` to a float32 array [n, clip_samples] (padded or centre-cropped).

    Bad files are skipped and listed. Returns (audio, labels, paths, skipped) where
    skipped is [{"path", "reason"}].
    """
    xs, ys, paths, skipped = [], [], [], []
    results = _decode_all(
        [c.path for c in clips], sample_rate, [c.silent_ok for c in clips], workers, progress, "clips"
    )
    for c, (_, x, err) in zip(clips, results):
        if err is not None:
            skipped.append({"path": err.path, "reason": err.reason})
            continue
        xs.append(audio_io.fit_length(x, clip_samples))
        ys.append(c.label)
        paths.append(c.path)
    audio = np.stack(xs) if xs else np.zeros((0, clip_samples), np.float32)
    return audio, np.asarray(ys, np.int64), paths, skipped


def fingerprint(path):
    """Identity of a file for caches: path, size and modification time."""
    st = os.stat(path)
    return hashlib.sha1(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()


def load_unlabeled(root, clip_samples, sample_rate=audio_io.SAMPLE_RATE, workers=None, progress=None):
    """Every audio file under `root` (any depth), cut into clips of `clip_samples`.

    Returns (audio [n, clip_samples], ids ["path#piece"], paths, skipped). A tail shorter
    than half a clip is dropped; a file shorter than a clip is padded. Non-audio files
    are listed in skipped, and so is `root` itself ("no audio files found (...)") when it
    holds no audio file at all. Symbolic links to folders are followed.
    """
    if not os.path.isdir(str(root)):
        raise FileNotFoundError(f"{root}: unlabelled audio folder does not exist")
    found, other = _walk(str(root))
    xs, ids, paths, skipped = [], [], [], _not_audio(other)
    if not found:  # listed, so that an empty (or wrongly linked) folder is not silently 0 clips
        skipped.append({"path": str(root), "reason": _no_audio()})
    for p, x, err in _decode_all(found, sample_rate, False, workers, progress, "unlabelled files"):
        if err is not None:
            skipped.append({"path": err.path, "reason": err.reason})
            continue
        pieces = max(1, int(round(len(x) / clip_samples)))
        for i in range(pieces):
            xs.append(audio_io.fit_length(x[i * clip_samples : (i + 1) * clip_samples], clip_samples))
            ids.append(f"{p}#{i}")
            paths.append(p)
    audio = np.stack(xs) if xs else np.zeros((0, clip_samples), np.float32)
    return audio, ids, paths, skipped


def load_noise(paths, sample_rate=audio_io.SAMPLE_RATE, workers=None):
    """Background-noise recordings (any length) → ([float32 arrays], skipped)."""
    noise, skipped = [], []
    for _, x, err in _decode_all(list(paths), sample_rate, False, workers, None):
        if err is not None:
            skipped.append({"path": err.path, "reason": err.reason})
        else:
            noise.append(x)
    return noise, skipped
