"""The exported set is one unit: a manifest names every file of it with its SHA-256 and the
model it came from, and readers refuse a folder whose files do not match it.

```python
from export import manifest
from export.layout import Layout
out = Layout("OUT")
manifest.begin(out)                               # before an export: the old set is no longer trusted
...                                               # write the files (each atomically)
manifest.write(out, files, model="3f2a…")         # last: the set is complete
manifest.verify(out)                              # readers: raises IncompleteExport naming the file
```
`begin` removes the previous manifest first, so a run killed at any point of an export leaves
a folder without one, which every reader refuses with a message, instead of a folder that
mixes two models. It also removes the exit and stage files of the previous export (a rerun
with fewer exits must not leave exit_3 behind).
"""

import json
import os

from export.files import atomic_write, sha256
from export.layout import IncompleteExport, Layout

NAME = "export.json"
VERSION = 1


def path(layout):
    """Where the manifest is.

    Args:
        layout: the run's output folder (`Layout`).

    Returns:
        The absolute path of export.json in the folder.
    """
    return layout.path(NAME)


def begin(layout):
    """Untrust the previous export: remove its manifest, then its exit and stage files.

    Args:
        layout: the run's output folder (`Layout`).
    """
    if os.path.exists(path(layout)):
        os.remove(path(layout))
    for f in layout.exit_files() + layout.stage_files() + layout.stage_files(portable=True):
        os.remove(f)


def write(layout, files, model):
    """Write the manifest of `files` (absolute paths under the folder) for the model identified by `model`.

    Args:
        layout: the run's output folder (`Layout`).
        files: the absolute paths of the exported files.
        model: what identifies the model they came from (e.g. a hash), stored as given.

    Returns:
        The manifest's path.
    """
    entries = {layout.relative(p): {"sha256": sha256(p), "bytes": os.path.getsize(p)} for p in files}
    data = {"version": VERSION, "model": model, "files": entries}
    return atomic_write(path(layout), json.dumps(data, indent=1, sort_keys=True).encode())


def read(layout):
    """The manifest as a dict; `IncompleteExport` when there is none or it is unreadable.

    Args:
        layout: the run's output folder (`Layout`).

    Returns:
        {"version", "model", "files": {relative path: {"sha256", "bytes"}}}.

    Raises:
        IncompleteExport: when the manifest is missing, unreadable or has no file list.
    """
    p = path(layout)
    try:
        with open(p) as f:
            data = json.load(f)
        if not isinstance(data.get("files"), dict):
            raise ValueError("no file list")
        return data
    except FileNotFoundError:
        raise IncompleteExport(
            f"{layout.root}: no {NAME}: the export there is unfinished (a run stopped while "
            "exporting?) or was not made by this version; rerun pipeline/run.py with "
            "--out pointing at it"
        ) from None
    except (OSError, ValueError) as e:
        raise IncompleteExport(
            f"{p}: unreadable manifest ({e}); rerun pipeline/run.py with --out pointing at the folder"
        ) from None


def verify(layout, needed=None):
    """Check that the files of the folder are the exported set the manifest names.

    Every listed file must exist with its SHA-256; with `needed` (relative paths or folder names),
    those must be listed too, and no file of a listed folder may be unlisted (a stage of another
    export). Returns the manifest. Raises `IncompleteExport` naming the first file that differs.

    Args:
        layout: the run's output folder, a `Layout` or a path.
        needed: relative paths or folder names that must be part of the export; None: none.

    Returns:
        The manifest (`read`).

    Raises:
        IncompleteExport: naming the first file that is missing, differs or is not listed.
    """
    layout = layout if isinstance(layout, Layout) else Layout(layout)
    data = read(layout)
    listed = data["files"]
    for rel, meta in sorted(listed.items()):
        p = layout.path(rel)
        if not os.path.isfile(p):
            raise IncompleteExport(
                f"{p}: listed in {NAME} but missing; the export is incomplete: rerun "
                "pipeline/run.py with --out pointing at the folder"
            )
        if sha256(p) != meta["sha256"]:
            raise IncompleteExport(
                f"{p}: differs from the file {NAME} lists (another export's, or changed since); "
                "the folder mixes two models: rerun pipeline/run.py with --out pointing at it"
            )
    for want in needed or ():
        folder = layout.path(want)
        if os.path.isdir(folder):
            for f in sorted(os.listdir(folder)):
                rel = os.path.join(want, f)
                if f.endswith(".tflite") and rel not in listed:
                    raise IncompleteExport(
                        f"{layout.path(rel)}: not part of the export {NAME} lists (left by "
                        "another export); rerun pipeline/run.py with --out pointing at the folder"
                    )
        elif want not in listed:
            raise IncompleteExport(f"{folder}: not part of the export {NAME} lists; rerun pipeline/run.py")
    return data
