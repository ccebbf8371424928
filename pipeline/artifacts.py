"""Stage 4, trained student → the files a device needs: LCE model, exits, stages, portable
files, float reference, labels, and what the converted model is made of.

```python
from pipeline import artifacts
made = artifacts.export_student(trained.model, corpus.labels, layout)
made.files.model, made.files.stages, made.section()    # report.json "model"
```
"""

import dataclasses
import logging
from typing import Optional

from export import convert, flatbuffer
from export.convert import ExportedFiles
from export.files import atomic_write

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Artifacts:
    files: ExportedFiles
    labels: str  # labels.txt
    flatbuffer: bytes  # model.tflite
    info: dict  # flatbuffer.inspect of model.tflite, plus "not_binarized"
    embedding_rank: Optional[int] = None  # of embedding.tflite's heads (None: full rank)
    embedding_ensemble: bool = False  # embedding.tflite's exit k: the mean of heads 1..k

    def section(self):
        """report.json "model"."""
        i = self.info
        return {
            "path": "model.tflite",
            "bytes": len(self.flatbuffer),
            "binary_mac_fraction": i["binary_mac_fraction"],
            "op_counts": i["op_counts"],
            "total_macs": i["total_macs"],
            "binary_macs": i["binary_macs"],
            "not_binarized": i["not_binarized"],
        }


def export_student(
    model, labels, layout, embedding_rank=None, int8_weights=True, embedding_ensemble=False
) -> Artifacts:
    """Stage 4, student → files: convert and write every file of the run (`export.convert.export_all`)
    and labels.txt.

    Args:
        model: the trained student.
        labels: the class names, in class-index order.
        layout: the run's output folder.
        embedding_rank: the rank of embedding.tflite's factorised heads; None keeps them full.
        int8_weights: store weights as int8 (`export.weights`; see `export_all`).
        embedding_ensemble: embedding.tflite's exit k is the mean of the heads of exits 1..k.

    Returns:
        The `Artifacts`: the files, labels.txt, model.tflite's bytes and what it holds.
    """
    files = convert.export_all(
        model,
        layout,
        progress=log.info,
        embedding_rank=embedding_rank,
        int8=int8_weights,
        ensemble=embedding_ensemble,
    )
    with open(files.model, "rb") as f:
        fb = f.read()
    info = flatbuffer.inspect(fb)
    info["not_binarized"] = flatbuffer.check_binarization(model, fb, warn=log.warning)
    atomic_write(layout.labels, ("\n".join(labels) + "\n").encode())
    return Artifacts(files, layout.labels, fb, info, embedding_rank or None, embedding_ensemble)


def export_float_twin(twin, layout, embedding_rank=None, int8_weights=True, embedding_ensemble=False):
    """The trained float twin's exit classifiers, float_twin/exit_K.tflite, and its embedding model,
    float_twin/embedding.tflite (stock TFLite ops).

    Args:
        twin: the trained float twin.
        layout: the run's output folder.
        embedding_rank: as `export_student`'s.
        int8_weights: as `export_student`'s.
        embedding_ensemble: as `export_student`'s.

    Returns:
        (the exit paths ordered by K, the embedding model's path).
    """
    files, embedding = convert.export_float_twin(twin, layout, embedding_rank, int8_weights, embedding_ensemble)
    log.info(
        f"export: float twin, {len(files)} exits and the embedding model (stock TFLite) in "
        f"{layout.path(layout.FLOAT_TWIN)}"
    )
    return files, embedding
