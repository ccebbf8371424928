"""Writing and identifying files: every file a rerun trusts is written atomically.

```python
from export.files import atomic_write, sha256
atomic_write("OUT/model.tflite", flatbuffer_bytes)            # bytes
atomic_write("OUT/cache.npz", lambda f: np.savez(f, x=x))      # or a writer of an open binary file
sha256("OUT/model.tflite")
read_json("OUT/report.json")                                   # None: missing or not JSON
```
A temporary file beside the target is written, flushed to disk (fsync) and renamed over the
target, so a reader sees the old file or the whole new one, never a torn one.
"""

import hashlib
import json
import os
import uuid


def atomic_write(path, data):
    """Write `data` (bytes, or a function that writes to an open binary file) to `path`; returns `path`.

    Args:
        path: the target file (a str or path-like); its folder is created if missing.
        data: bytes, or a function called with the open temporary file.

    Returns:
        `path` as a str.
    """
    path = str(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def sha256(path):
    """SHA-256 of a file, read in 1 MiB blocks.

    Args:
        path: the file.

    Returns:
        The digest as a hex string.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path):
    """The JSON document in `path`, or None when the file is missing, unreadable or not JSON (a file a
    rerun may trust only after checking it).

    Args:
        path: the file.

    Returns:
        The parsed document, or None.
    """
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_bytes(path):
    """The bytes of `path` (a flatbuffer the run wrote).

    Args:
        path: the file.

    Returns:
        Its content, bytes.
    """
    with open(path, "rb") as f:
        return f.read()
