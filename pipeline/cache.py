"""On-disk cache of teacher embeddings: the teacher runs once per clip, ever.

Entries are keyed by teacher handle + clip identity (path, size, mtime) + clip
parameters. Each batch is written as one shard (`.npz`, written to a temporary
name then renamed), and `manifest.json` (also replaced atomically) lists every
shard with its SHA-256, so a killed run loses at most the batch in flight and a
corrupt shard is noticed, dropped and recomputed.

```python
cache = EmbeddingCache("OUT/teacher_cache")
k = cache.key("trillsson3", "clip.wav", {"clip_samples": 16000})
hits = cache.lookup([k])            # {key: np.ndarray}
cache.add([k], np.zeros((1, 1024)))
```
"""
import hashlib
import json
import os
import uuid
import warnings

import numpy as np

from pipeline.datasets import fingerprint

MANIFEST = "manifest.json"


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_write(path, write):
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class EmbeddingCache:
    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.manifest_path = os.path.join(self.root, MANIFEST)
        self.shards = {}
        if os.path.exists(self.manifest_path):
            try:
                with open(self.manifest_path) as f:
                    self.shards = json.load(f)["shards"]
            except (ValueError, KeyError) as e:
                warnings.warn(f"{self.manifest_path}: unreadable manifest ({e}); starting an empty cache")
        self._index = None
        self.dropped = []

    @staticmethod
    def key(handle, path, params):
        ident = f"{handle}|{fingerprint(path)}|{json.dumps(params, sort_keys=True)}"
        return hashlib.sha1(ident.encode()).hexdigest()

    def _load_index(self):
        self._index = {}
        for name, meta in list(self.shards.items()):
            path = os.path.join(self.root, name)
            try:
                if _sha256(path) != meta["sha256"]:
                    raise ValueError("checksum mismatch")
                with np.load(path) as z:
                    for k, v in zip(z["keys"], z["embeddings"]):
                        self._index[str(k)] = v
            except (OSError, ValueError, KeyError) as e:
                warnings.warn(f"{path}: corrupt cache shard ({e}); its clips will be recomputed")
                self.dropped.append(name)
                del self.shards[name]
        if self.dropped:
            self._write_manifest()

    def lookup(self, keys):
        if self._index is None:
            self._load_index()
        return {k: self._index[k] for k in keys if k in self._index}

    def __len__(self):
        if self._index is None:
            self._load_index()
        return len(self._index)

    def add(self, keys, embeddings):
        embeddings = np.asarray(embeddings, np.float32)
        name = f"shard-{uuid.uuid4().hex[:12]}.npz"
        path = os.path.join(self.root, name)
        _atomic_write(path, lambda f: np.savez(f, keys=np.asarray(keys), embeddings=embeddings))
        self.shards[name] = {"sha256": _sha256(path), "n": len(keys)}
        self._write_manifest()
        if self._index is not None:
            self._index.update(zip(keys, embeddings))

    def _write_manifest(self):
        data = json.dumps({"version": 1, "shards": self.shards}, indent=1).encode()
        _atomic_write(self.manifest_path, lambda f: f.write(data))
