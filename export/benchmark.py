"""Per-exit figures of an exported model: latency with LCE's interpreter, accuracy, parity.

```python
from export import benchmark
exits = benchmark.measure_exits(exit_files, test_audio, test_labels, teacher_emb)
```
"""
import os

import numpy as np

from export.interpreter import LceModel


def _cosine(a, b):
    a = a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-12)
    b = b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-12)
    return float(np.mean(np.sum(a * b, axis=1)))


def measure_exits(exit_files, audio, labels, teacher_embeddings=None, runs=50, root=None, progress=print):
    """For each exits/exit_K.tflite: bytes, median LCE latency (1 thread), accuracy, cosine to teacher."""
    results = []
    for k, path in enumerate(exit_files, 1):
        with open(path, "rb") as f:
            fb = f.read()
        m = LceModel(fb)
        outs = m.predict(audio)
        probs, emb = outs[f"exit{k}_probs"], outs[f"exit{k}_embedding"]
        results.append({
            "index": k,
            "path": os.path.relpath(path, root) if root else path,
            "bytes": len(fb),
            "latency_ms": m.latency_ms(audio[:1], runs=runs),
            "accuracy": float(np.mean(np.argmax(probs, 1) == labels)) if len(labels) else None,
            "embedding_cosine": _cosine(emb, teacher_embeddings) if teacher_embeddings is not None else None,
        })
        progress(f"exit {k}: {results[-1]['latency_ms']:.2f} ms, accuracy {results[-1]['accuracy']:.3f}")
    return results


def parity(model, fb, audio):
    """Keras vs LCE TFLite on the same clips: worst absolute difference and top-1 agreement per exit."""
    lce_out = LceModel(fb).predict(audio)
    keras_out = {k: np.asarray(v) for k, v in model.predict(audio, verbose=0).items()}
    worst, agree = {}, []
    for name, v in lce_out.items():
        worst[name] = float(np.max(np.abs(v - keras_out[name])))
        if name.endswith("_probs"):
            agree.append(float(np.mean(np.argmax(v, 1) == np.argmax(keras_out[name], 1))))
    return {"max_abs_diff": max(worst.values()), "per_output": worst,
            "top1_agreement": min(agree) if agree else None}
