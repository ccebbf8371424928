"""Pretrained weights from a published PyPI wheel, and the teacher SavedModel written from them: what the
real-teacher tools (`speech_embedding_teacher`, `ge2e_teacher`) share.

```python
from pipeline.tools import wheel
path = wheel.find("openwakeword==0.4.0", "openwakeword-0.4.0-*.whl", None, "~/.cache/brillsson/wheels")
files = wheel.read_members(path, {"mel": "openwakeword/.../melspectrogram.onnx"},
                           "openwakeword-0.4.0.dist-info/RECORD", {"mel": "ba2b0e..."}, "openwakeword 0.4.0")
wheel.save_module(module, "teachers/x")   # atomically: a sibling temporary folder, then renamed
wheel.command(argv, prog=..., read=..., build=..., check=..., ...)   # a tool's whole command line
```
Nothing of a wheel is committed to this repository: it is downloaded (`pip download --no-deps`) or
given, and every file read from it is checked against the wheel's RECORD and a pinned sha256.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import wave
import zipfile
from typing import Callable, Dict, List, Sequence

import numpy as np

from pipeline.errors import TeacherError


class TeacherBuildError(TeacherError):
    """A wheel, a file in it or its translation is not what a teacher tool expects."""


def find(spec: str, pattern: str, wheel: str | None, cache: str, quiet: bool = False) -> str:
    """The wheel `spec` names: `wheel`, else one matching `pattern` in `cache`, else downloaded into it.

    Args:
        spec: a pip requirement pinned to one version, e.g. "openwakeword==0.4.0".
        pattern: the wheel's file name as a glob, e.g. "openwakeword-0.4.0-*.whl".
        wheel: a wheel file given by the user, or None.
        cache: the folder wheels are kept in (created when a download is needed).
        quiet: no line when downloading.

    Returns:
        The wheel's path.

    Raises:
        TeacherBuildError: `wheel` does not exist, or pip failed or left no wheel.
    """
    if wheel:
        if not os.path.isfile(wheel):
            raise TeacherBuildError(f"{wheel}: no such file")
        return wheel
    cache = os.path.expanduser(cache)
    found = sorted(glob.glob(os.path.join(cache, pattern)))
    if found:
        return found[0]
    os.makedirs(cache, exist_ok=True)
    if not quiet:
        print(f"downloading {spec} into {cache} ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", spec, "-d", cache], check=True)
    except subprocess.CalledProcessError as e:
        raise TeacherBuildError(f"pip download {spec} failed (status {e.returncode})") from e
    found = sorted(glob.glob(os.path.join(cache, pattern)))
    if not found:
        raise TeacherBuildError(f"pip download {spec} left no wheel in {cache}")
    return found[0]


def read_members(
    wheel: str, members: Dict[str, str], record: str, pinned: Dict[str, str], what: str
) -> Dict[str, bytes]:
    """Files of a wheel, each checked against the wheel's RECORD and a pinned sha256.

    Args:
        wheel: the wheel's path.
        members: {key: path inside the wheel}.
        record: the RECORD file's path inside the wheel.
        pinned: {key: the published file's sha256, hex}.
        what: the wheel in words, for errors ("openwakeword 0.4.0").

    Returns:
        {key: the file's bytes}.

    Raises:
        TeacherBuildError: not a wheel, a file missing, or a file that is not the published one.
    """
    try:
        with zipfile.ZipFile(wheel) as zf:
            listed = zf.read(record).decode()
            files = {key: zf.read(name) for key, name in members.items()}
    except (zipfile.BadZipFile, KeyError) as e:
        raise TeacherBuildError(f"{wheel}: not the {what} wheel ({e})") from e
    hashes = {}
    for line in listed.splitlines():
        parts = line.rsplit(",", 2)
        if len(parts) == 3 and parts[1].startswith("sha256="):
            hashes[parts[0]] = parts[1][len("sha256=") :]
    for key, name in members.items():
        digest = hashlib.sha256(files[key]).digest()
        if hashes.get(name) != base64.urlsafe_b64encode(digest).rstrip(b"=").decode():
            raise TeacherBuildError(f"{wheel}: {name} does not match the wheel's RECORD")
        if digest.hex() != pinned[key]:
            raise TeacherBuildError(f"{wheel}: {name} is not the published {what} file (sha256)")
    return files


def save_module(module, out: str) -> str:
    """Save a teacher `tf.Module` (with a `serve` function) as a SavedModel, atomically: into a sibling
    temporary folder, then renamed onto `out` (replacing it).

    Args:
        module: the module; `module.serve` becomes the `serving_default` signature.
        out: the SavedModel's folder.

    Returns:
        `out`.
    """
    import shutil

    import tensorflow as tf

    parent = os.path.dirname(os.path.abspath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".teacher-", dir=parent)
    try:
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_wav(path: str, sample_rate: int = 16000) -> np.ndarray:
    """A 16-bit WAV file at `sample_rate` → float32 samples in [-1, 1], channels averaged (the teacher tools'
    `--check` clips).

    Args:
        path: the file.
        sample_rate: the rate it must have, Hz.

    Returns:
        The samples, float32 [samples].

    Raises:
        TeacherBuildError: another rate or sample width.
    """
    with wave.open(path) as w:
        if w.getframerate() != sample_rate or w.getsampwidth() != 2:
            raise TeacherBuildError(f"{path}: --check takes {sample_rate // 1000} kHz 16-bit WAV files")
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, w.getnchannels())
    return x.mean(axis=1).astype(np.float32) / 32768.0


def command(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    wheel_name: str,
    check_help: str,
    read: Callable[[str | None, str, bool], object],
    build: Callable[[object], object],
    check: Callable[[str, object, List[str], bool], float],
    dims: int,
    tolerance: float = 1e-3,
    relative: bool = False,
) -> str:
    """A teacher tool's command line: `OUT [--wheel W] [--cache DIR] [--check WAV ...] [--quiet]`.

    Args:
        argv: the arguments (None: `sys.argv[1:]`).
        prog: the command's name in usage lines.
        description: the first line of `--help`.
        wheel_name: the wheel in words for `--wheel`'s help ("the resemblyzer-0.1.4 wheel").
        check_help: what `--check` compares with.
        read: (wheel or None, cache, quiet) → the weights the build takes.
        build: weights → the teacher `tf.Module`.
        check: (SavedModel folder, weights, clips, quiet) → the largest difference from the reference.
        dims: the embedding's dimensions, for the closing line.
        tolerance: the largest difference `--check` accepts.
        relative: `check`'s difference is relative to the reference's largest value (said in the error).

    Returns:
        The SavedModel's folder (the command's exit status is 0; an error is one line and status 1).
    """
    import argparse

    from pipeline.errors import as_command

    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("out", help="folder for the SavedModel (replaced if it exists)")
    ap.add_argument("--wheel", help=f"{wheel_name} (default: from --cache, else pip download)")
    ap.add_argument(
        "--cache",
        default=os.path.expanduser("~/.cache/brillsson/wheels"),
        help="where the wheel is kept (default: ~/.cache/brillsson/wheels)",
    )
    ap.add_argument("--check", nargs="+", metavar="WAV", help=f"also compare with {check_help} on these clips")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)

    def run() -> str:
        weights = read(args.wheel, os.path.expanduser(args.cache), args.quiet)
        save_module(build(weights), args.out)
        if not args.quiet:
            print(
                f"wrote {args.out}: audio [batch, samples] at 16 kHz -> {{'embedding': [batch, {dims}]}}",
                file=sys.stderr,
            )
        if args.check:
            worst = check(args.out, weights, args.check, args.quiet)
            if worst > tolerance:
                raise TeacherBuildError(
                    f"the SavedModel differs from the reference by {worst:.2e}" + (" (relative)" if relative else "")
                )
        return args.out

    return as_command(run)
