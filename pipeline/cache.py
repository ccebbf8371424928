"""On-disk cache of teacher embeddings: the teacher runs once per clip, ever.

Entries are keyed by teacher identity + clip identity (path, size, mtime) + clip
parameters. Each batch is written as one shard (`.npz`, written to a temporary
name, fsynced, then renamed), and `manifest.json` (also replaced atomically, under
a lock so several runs can share one cache folder) lists every shard with its
SHA-256. A killed run loses at most the batch in flight: on the next start, left-over
temporary files are removed, a shard written but not yet in the manifest is adopted
(if it reads back whole), and a corrupt shard is noticed, dropped and recomputed.

```python
cache = EmbeddingCache("OUT/teacher_cache")
k = cache.key("trillsson3", "clip.wav", {"clip_samples": 16000})
hits = cache.lookup([k])            # {key: np.ndarray}
cache.add([k], np.zeros((1, 1024)))
```
The index in memory holds each key's shard and row, not its embedding (which `lookup` reads from
the shard), so a cache of millions of clips costs tens of bytes per clip, not kilobytes.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import time
import uuid
import warnings
import zipfile

import numpy as np

from export.files import atomic_write, sha256
from models.frontend import SAMPLE_RATE
from pipeline.datasets import fingerprint

MANIFEST = "manifest.json"
LOCK = ".lock"


def _read_shard(path):
    with np.load(path) as z:
        keys, emb = z["keys"], z["embeddings"]
    if len(keys) != len(emb):
        raise ValueError("keys and embeddings differ in length")
    return [str(k) for k in keys], emb


def _read_keys(path):
    with np.load(path) as z:
        return [str(k) for k in z["keys"]]


def cache_params(clip_samples, output_key, piece=None):
    """The clip parameters a cached embedding depends on."""
    p = {"clip_samples": clip_samples, "sample_rate": SAMPLE_RATE, "output": output_key}
    return p if piece is None else {**p, "piece": piece}


def clip_key(cache, identity, clip_id, clip_samples, output_key, piece=False, file_fingerprint=None):
    """Cache key of a clip: `clip_id` is its file's path, or "path#piece" (`piece=True`) for a piece
    of a longer unlabelled file; `file_fingerprint` stands for the file where it is not at hand."""
    path, piece_no = clip_id.rsplit("#", 1) if piece else (clip_id, None)
    return cache.key(identity, path, cache_params(clip_samples, output_key, piece_no), file_fingerprint)


class EmbeddingCache:
    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.manifest_path = os.path.join(self.root, MANIFEST)
        self.shards = {}
        self._index = None
        self.dropped = []  # shards found corrupt and dropped
        self.adopted = []  # shards found on disk but missing from the manifest (a run killed mid-write)

    @staticmethod
    def key(handle, path, params, file_fingerprint=None):
        """The key of a clip of the file `path` (or, where the file is not at hand, e.g. on an extraction
        worker reading shards, its `datasets.fingerprint` recorded when it was decoded)."""
        ident = f"{handle}|{file_fingerprint or fingerprint(path)}|{json.dumps(params, sort_keys=True)}"
        return hashlib.sha1(ident.encode()).hexdigest()

    @contextlib.contextmanager
    def _locked(self):
        with open(os.path.join(self.root, LOCK), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _read_manifest(self):
        if not os.path.exists(self.manifest_path):
            return {}
        try:
            with open(self.manifest_path) as f:
                return dict(json.load(f)["shards"])
        except (ValueError, KeyError, TypeError) as e:
            warnings.warn(f"{self.manifest_path}: unreadable manifest ({e}); shards on disk are re-checked")
            return {}

    def _write_manifest(self):
        data = json.dumps({"version": 1, "shards": self.shards}, indent=1).encode()
        atomic_write(self.manifest_path, data)

    def _load_index(self):
        self._index = {}
        with self._locked():
            self.shards = self._read_manifest()
            changed = False
            for name in sorted(os.listdir(self.root)):
                path = os.path.join(self.root, name)
                if ".tmp-" in name and time.time() - os.path.getmtime(path) > 60:
                    os.remove(path)  # left by a killed writer (recent ones may belong to a live run)
                elif name.endswith(".npz") and name not in self.shards:
                    try:
                        _read_shard(path)  # the zip's CRCs catch a torn write
                    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
                        warnings.warn(f"{path}: corrupt cache shard ({e}); its clips will be recomputed")
                        self.dropped.append(name)
                        os.remove(path)
                        continue
                    self.shards[name] = {"sha256": sha256(path)}
                    self.adopted.append(name)
                    changed = True
            for name, meta in list(self.shards.items()):
                path = os.path.join(self.root, name)
                try:
                    if sha256(path) != meta["sha256"]:
                        raise ValueError("checksum mismatch")
                    self._index.update((k, (name, i)) for i, k in enumerate(_read_keys(path)))
                except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
                    warnings.warn(f"{path}: corrupt cache shard ({e}); its clips will be recomputed")
                    self.dropped.append(name)
                    del self.shards[name]
                    changed = True
                    if os.path.exists(path):
                        os.remove(path)
            if changed:
                self._write_manifest()

    def lookup(self, keys):
        """{key: embedding} of the `keys` in the cache, read shard by shard."""
        if self._index is None:
            self._load_index()
        by_shard = {}
        for k in keys:
            if k in self._index:
                name, row = self._index[k]
                by_shard.setdefault(name, []).append((k, row))
        out = {}
        for name, rows in by_shard.items():
            with np.load(os.path.join(self.root, name)) as z:
                emb = z["embeddings"]
            out.update((k, emb[row]) for k, row in rows)
        return out

    def __len__(self):
        if self._index is None:
            self._load_index()
        return len(self._index)

    def add(self, keys, embeddings):
        embeddings = np.asarray(embeddings, np.float32)
        keys = [str(k) for k in keys]
        name = f"shard-{uuid.uuid4().hex[:12]}.npz"
        path = os.path.join(self.root, name)
        atomic_write(path, lambda f: np.savez(f, keys=np.asarray(keys), embeddings=embeddings))
        meta = {"sha256": sha256(path), "n": len(keys)}
        with self._locked():  # merge with what other runs sharing this folder have written
            self.shards = {**self._read_manifest(), name: meta}
            self._write_manifest()
        if self._index is not None:
            self._index.update((k, (name, i)) for i, k in enumerate(keys))
