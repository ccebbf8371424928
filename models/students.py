"""Student families with early exits, chosen by name from a registry.

```python
from models import students
model = students.build("quicknet", num_classes=12, exits=3)
out = model(audio)     # {"exit1_embedding": [b, 1024], "exit1_probs": [b, 12], ..., "exit3_probs"}
```
Each family turns the log-mel image into one feature map per exit (block boundaries);
every exit gets the same heads: global average pooling → a float embedding head of the
teacher's size (distilled) → a softmax classifier on that embedding.
"""
import pipeline  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
import tensorflow as tf

from models import blocks
from models.frontend import LogMel

layers = tf.keras.layers
FAMILIES = {}


def register(name):
    def wrap(fn):
        FAMILIES[name] = fn
        return fn
    return wrap


def get(name):
    if name not in FAMILIES:
        raise ValueError(f"unknown student family '{name}'; choose one of {sorted(FAMILIES)}")
    return FAMILIES[name]


def _widths(exits, width):
    return [width * 2 ** min(i, 2) for i in range(exits)]


@register("quicknet")
def quicknet(x, exits=3, width=32, blocks_per_exit=2):
    """QuickNet-style: float stem, binary residual blocks, float transitions; an exit per section."""
    widths = _widths(exits, width)
    x = blocks.stem(x, widths[0])
    features = []
    for s, filters in enumerate(widths, 1):
        if s > 1:
            x = blocks.transition(x, filters, name=f"s{s}_transition")
        for b in range(1, blocks_per_exit + 1):
            x = blocks.residual_block(x, name=f"s{s}_b{b}")
        features.append(x)
    return features


def build(family="quicknet", num_classes=12, embedding_dim=1024, exits=3, clip_samples=16000,
          num_mel_bins=64, **family_kwargs):
    """Raw audio [batch, clip_samples] → {exitK_embedding, exitK_probs} for K = 1..exits."""
    if exits < 1:
        raise ValueError("a student needs at least one exit")
    audio = tf.keras.Input((clip_samples,), name="audio")
    x = LogMel(num_mel_bins=num_mel_bins, name="log_mel")(audio)
    x = blocks.batch_norm("input_bn")(x)
    features = get(family)(x, exits=exits, **family_kwargs)
    outputs = {}
    for k, f in enumerate(features, 1):
        pooled = layers.GlobalAveragePooling2D(name=f"exit{k}_pool")(f)
        emb = layers.Dense(embedding_dim, name=f"exit{k}_embedding")(pooled)
        outputs[f"exit{k}_embedding"] = emb
        outputs[f"exit{k}_probs"] = layers.Dense(num_classes, activation="softmax", name=f"exit{k}_probs")(emb)
    return tf.keras.Model(audio, outputs, name=f"{family}_{exits}exits")


def exit_names(model):
    """Number of exits of a model built by `build`."""
    return sorted(n for n in model.output_names if n.endswith("_probs"))
