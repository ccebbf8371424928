"""Labelled task folders → a list of clips with labels and a train/test split.

Layouts (see DESIGN.md):

    DIR/<label>/*.wav                       split made here, seeded
    DIR/train/<label>/… + DIR/test/<label>/…  splits as given

Speech Commands' own `validation_list.txt` / `testing_list.txt` are honoured when
present, and its `<speaker>_nohash_<n>.wav` names give a speaker-independent split.
`_background_noise_` is not a label.

```python
from pipeline import datasets
ds = datasets.scan("data/keywords")
train = ds.split("train"); test = ds.split("test")
audio, labels, skipped = datasets.load(train, clip_samples=16000)
```
"""
import dataclasses
import hashlib
import os
import random

import numpy as np

from pipeline import audio as audio_io

NOT_LABELS = {"_background_noise_"}


@dataclasses.dataclass
class Clip:
    path: str
    label: int
    split: str  # "train" or "test"


@dataclasses.dataclass
class Dataset:
    root: str
    labels: list
    clips: list

    def split(self, name):
        return [c for c in self.clips if c.split == name]


def _audio_files(folder):
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for f in sorted(filenames):
            if f.lower().endswith(audio_io.EXTENSIONS):
                out.append(os.path.join(dirpath, f))
    return out


def _label_dirs(folder):
    return sorted(d for d in os.listdir(folder)
                  if os.path.isdir(os.path.join(folder, d)) and d not in NOT_LABELS and not d.startswith("."))


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


def scan(root, test_fraction=0.2, seed=0):
    """Find the labels and clips under `root` and assign each clip to train or test."""
    root = str(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: data folder does not exist")
    top = _label_dirs(root)
    if "train" in top and "test" in top:
        labels = sorted(set(_label_dirs(os.path.join(root, "train"))) | set(_label_dirs(os.path.join(root, "test"))))
        clips = [Clip(p, labels.index(lab), split)
                 for split in ("train", "test")
                 for lab in _label_dirs(os.path.join(root, split))
                 for p in _audio_files(os.path.join(root, split, lab))]
    else:
        labels = top
        testing = _read_list(root, "testing_list.txt")
        clips = []
        for i, lab in enumerate(labels):
            for p in _audio_files(os.path.join(root, lab)):
                clips.append(Clip(p, i, "train"))
        if testing:
            for c in clips:
                if os.path.normpath(os.path.relpath(c.path, root)) in testing:
                    c.split = "test"
        else:
            # Seeded split by speaker group: a group's clips all land on one side.
            groups = sorted({_group(c.path) for c in clips})
            random.Random(seed).shuffle(groups)
            n_test = max(1, round(test_fraction * len(groups))) if len(groups) > 1 else 0
            test_groups = set(groups[:n_test])
            for c in clips:
                if _group(c.path) in test_groups:
                    c.split = "test"
    if not labels or not clips:
        raise ValueError(f"{root}: no labelled audio found (expected {root}/<label>/*.wav "
                         f"or {root}/train/<label>/… and {root}/test/<label>/…)")
    return Dataset(root, labels, clips)


def load(clips, clip_samples, sample_rate=audio_io.SAMPLE_RATE):
    """Decode `clips` to a float32 array [n, clip_samples]; bad files are skipped and listed.

    Returns (audio, labels, paths, skipped) where skipped is [{"path", "reason"}].
    """
    xs, ys, paths, skipped = [], [], [], []
    for c in clips:
        try:
            x = audio_io.load(c.path, sample_rate)
        except audio_io.AudioError as e:
            skipped.append({"path": e.path, "reason": e.reason})
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


def load_unlabeled(root, clip_samples, sample_rate=audio_io.SAMPLE_RATE):
    """Every audio file under `root` (any depth), cut into clips of `clip_samples`.

    Returns (audio [n, clip_samples], ids ["path#piece"], paths, skipped). A tail shorter
    than half a clip is dropped; a file shorter than a clip is padded.
    """
    xs, ids, paths, skipped = [], [], [], []
    for p in _audio_files(root):
        try:
            x = audio_io.load(p, sample_rate)
        except audio_io.AudioError as e:
            skipped.append({"path": e.path, "reason": e.reason})
            continue
        pieces = max(1, int(round(len(x) / clip_samples)))
        for i in range(pieces):
            xs.append(audio_io.fit_length(x[i * clip_samples:(i + 1) * clip_samples], clip_samples))
            ids.append(f"{p}#{i}")
            paths.append(p)
    audio = np.stack(xs) if xs else np.zeros((0, clip_samples), np.float32)
    return audio, ids, paths, skipped
