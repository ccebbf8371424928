"""Atomic writes: a reader sees the old file or the whole new one; a failed write leaves nothing."""

import hashlib
import os

import pytest

from export.files import atomic_write, sha256


def test_atomic_write_replaces_whole_and_cleans_up_after_a_failure(tmp_path):
    p = tmp_path / "sub" / "f.bin"
    atomic_write(p, b"old")
    atomic_write(p, lambda f: f.write(b"new"))
    assert p.read_bytes() == b"new" and sha256(p) == hashlib.sha256(b"new").hexdigest()

    def fails(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(p, fails)
    assert p.read_bytes() == b"new" and os.listdir(tmp_path / "sub") == ["f.bin"]
