"""Student families with early exits, chosen by name from a registry.

```python
from models import students
model = students.build("quicknet", num_classes=12, exits=3)
out = model(audio)     # {"exit1_embedding": [b, 1024], "exit1_probs": [b, 12], ..., "exit3_probs"}
students.build("binarydensenet", exits=4, width=16, depth=3, spec_augment=True, seed=0)
sorted(students.FAMILIES)            # ['binarydensenet', 'birealnet', 'meliusnet', 'quicknet']
students.family_options("meliusnet") # {'width': 24, 'depth': 2, 'growth': None}
```
Each family turns the log-mel image into one feature map per exit: the network is cut
into `exits` sections of `depth` blocks, section k ends at block boundary k, and exit k
pools that activation (`exit{k}_pool`). Section k+1 consumes only that activation (no
connection skips across a boundary), so a runtime can stop after any section. Every exit
gets two heads: a float embedding head of the teacher's size on the pooled features (layer
`exit{k}_pool`: by default the mean and standard deviation over time of every channel in every
frequency row, `StatsPool`; see `EMBEDDING_POOLS`; distilled; exported only in the embedding model) and a softmax
classifier on the mean over time of the feature map, frequency rows kept (`head_pool="time"`;
the early-exit classifier's decision: no teacher-sized layer on its path).

Section k works at `width × 2^min(k-1, 2)` channels and half the resolution of section k-1
(the stem brings the log-mel image to 1/4). QuickNet and Bi-Real exit with that many
channels; BinaryDenseNet and MeliusNet grow it to twice that within the section, so their
default width is half: all four defaults exit with 48/96/192 channels. `depth` is one number
(every section) or one per section, e.g. (1, 2, 3): a light first section makes the first
exit cheap and lets the later sections carry the work.
"""

import inspect
import re

import tensorflow as tf

from models import blocks, int8
from models.errors import ConfigError
from models.registry import registrar
from models.frontend import SAMPLE_RATE, LogMel, SpecAugment

layers = tf.keras.layers
FAMILIES = {}

# The names of a student's outputs and exit layers, defined here once and used by training,
# export, the runtimes and the evaluation: exit k gives "exit{k}_embedding" and "exit{k}_probs"
# and pools the block boundary k in the layer "exit{k}_pool".
EMBEDDING, PROBS, POOL = "embedding", "probs", "pool"
FRONTEND = "log_mel"  # the LogMel layer: the streaming export splits the model after it
_OUTPUT = re.compile(r"^exit(\d+)_(embedding|probs)$")


def output_name(k, kind):
    """The name of exit `k`'s output or layer of `kind` (EMBEDDING, PROBS or POOL): "exit2_probs".

    Args:
        k: the exit, 1-based.
        kind: EMBEDDING, PROBS or POOL.

    Returns:
        "exit{k}_{kind}".
    """
    return f"exit{int(k)}_{kind}"


def parse_output_name(name):
    """ "exit2_probs" → (2, "probs"); None for a name that is not an exit output.

    Args:
        name: an output name.

    Returns:
        (exit k, kind) for "exit{k}_embedding" or "exit{k}_probs", else None.
    """
    m = _OUTPUT.match(name)
    return (int(m.group(1)), m.group(2)) if m else None


def output_kind(name):
    """ "exit2_probs" → "probs"; None for a name that is not an exit output.

    Args:
        name: an output name.

    Returns:
        EMBEDDING or PROBS, or None.
    """
    parsed = parse_output_name(name)
    return parsed[1] if parsed else None


# `@register("name")` adds a family: fn(x, exits, width=..., depth=...) → [feature map per exit]
register = registrar(FAMILIES)


def get(name):
    """The family function registered as `name`.

    Args:
        name: a key of `FAMILIES`.

    Returns:
        The family function.

    Raises:
        ConfigError: when no family has that name.
    """
    if name not in FAMILIES:
        raise ConfigError(f"unknown student family '{name}'; choose one of {sorted(FAMILIES)}")
    return FAMILIES[name]


def _widths(exits, width):
    return [width * 2 ** min(i, 2) for i in range(exits)]


def _check(**values):
    for name, v in values.items():
        for x in v if isinstance(v, (list, tuple)) else [v]:
            if x is not None and (int(x) != x or x < 1):
                raise ConfigError(f"student {name} must be a whole number >= 1 (or one per section), got {v}")


def depths(exits, depth):
    """Blocks per section: `depth` is one number for every section or a sequence of one per section.

    Args:
        exits: the number of sections.
        depth: an int, or a list or tuple of one int per section.

    Returns:
        A list of `exits` ints.

    Raises:
        ConfigError: when a sequence does not have one depth per exit.
    """
    if isinstance(depth, (list, tuple)):
        if len(depth) != exits:
            raise ConfigError(f"{len(depth)} section depths given for {exits} exits: give one per exit")
        return [int(d) for d in depth]
    return [int(depth)] * exits


@register("quicknet")
def quicknet(x, exits=3, width=48, depth=3, first_depth=1, block="react"):
    """QuickNet-style: float stem, `depth` binary residual blocks per section (`first_depth` in the
    first: a cheap first exit, the later sections carry the work; None: `depth` there too), and
    between sections a transition with no MACs (pooling, channels doubled by concatenation). A
    `depth` of one number per section overrides both. `block` (`blocks.RESIDUAL_BLOCKS`): "react"
    (the default: ReActNet's learned thresholds and RPReLU around the binary conv) or "quicknet"
    (x + BN(ReLU(bconv(x))), QuickNet's own block).

    Args:
        x: the log-mel image, a Keras tensor [batch, frames, bins, 1].
        exits: the number of sections (exits).
        width: the first section's channels.
        depth: residual blocks per section (one int, or one per section).
        first_depth: residual blocks of the first section when `depth` is one int; None: `depth`.
        block: a key of `blocks.RESIDUAL_BLOCKS`.

    Returns:
        The feature map at the end of each section, one per exit.

    Raises:
        ConfigError: for an unknown `block`, a width or depth that is not a whole number >= 1, or a
            `depth` sequence of the wrong length.
    """
    _check(width=width, depth=depth, first_depth=first_depth)
    if block not in blocks.RESIDUAL_BLOCKS:
        raise ConfigError(f"unknown quicknet block '{block}'; choose one of {sorted(blocks.RESIDUAL_BLOCKS)}")
    residual = blocks.RESIDUAL_BLOCKS[block]
    widths, per_section = _widths(exits, width), depths(exits, depth)
    if first_depth and not isinstance(depth, (list, tuple)):
        per_section[0] = int(first_depth)
    x = blocks.stem(x, widths[0])
    features = []
    for s, filters in enumerate(widths, 1):
        if s > 1:
            x = blocks.pool_transition(x, name=f"s{s}_transition", widen=filters > widths[s - 2])
        for b in range(1, per_section[s - 1] + 1):
            x = residual(x, name=f"s{s}_b{b}")
        features.append(x)
    return features


@register("birealnet")
def birealnet(x, exits=3, width=48, depth=3):
    """Bi-Real-style: a real-valued shortcut around every binary conv; the first block of
    sections 2.. downsamples with a strided binary conv (shortcut: average pool, channels
    repeated), so all convs after the stem are binary.

    Args:
        x: the log-mel image, a Keras tensor [batch, frames, bins, 1].
        exits: the number of sections (exits).
        width: the first section's channels.
        depth: Bi-Real blocks per section (one int, or one per section).

    Returns:
        The feature map at the end of each section, one per exit.

    Raises:
        ConfigError: for a width or depth that is not a whole number >= 1, or a `depth` sequence of the
            wrong length.
    """
    _check(width=width, depth=depth)
    widths, per_section = _widths(exits, width), depths(exits, depth)
    x = blocks.stem(x, widths[0])
    features = []
    for s, filters in enumerate(widths, 1):
        for b in range(1, per_section[s - 1] + 1):
            down = s > 1 and b == 1
            x = blocks.bireal_block(x, name=f"s{s}_b{b}", strides=2 if down else 1, filters=filters)
        features.append(x)
    return features


@register("binarydensenet")
def binarydensenet(x, exits=3, width=24, depth=4, growth=None):
    """BinaryDenseNet-style: each of the `depth` layers of a section concatenates `growth` new
    binary-conv channels (default: a quarter of the section's width, so a section doubles its
    channels) to everything before it in the section; a float transition (max-pool, ReLU, 1×1
    conv) brings the concatenated state to the next section's width. Exit k pools the full
    concatenated state of section k, the tensor the next transition consumes.

    Args:
        x: the log-mel image, a Keras tensor [batch, frames, bins, 1].
        exits: the number of sections (exits).
        width: the channels the first section starts with (the stem's output).
        depth: dense layers per section (one int, or one per section).
        growth: new channels per layer in the first section (scaled with the section's width); None: a
            quarter of the section's width.

    Returns:
        The concatenated state at the end of each section, one per exit.

    Raises:
        ConfigError: for a width, depth or growth that is not a whole number >= 1, or a `depth` sequence of
            the wrong length.
    """
    _check(width=width, depth=depth, growth=growth)
    widths, per_section = _widths(exits, width), depths(exits, depth)
    x = blocks.stem(x, widths[0])
    features = []
    for s, filters in enumerate(widths, 1):
        if s > 1:
            x = blocks.transition(x, filters, name=f"s{s}_transition")
        g = growth * filters // width if growth else max(1, filters // 4)
        for b in range(1, per_section[s - 1] + 1):
            x = blocks.dense_layer(x, g, name=f"s{s}_d{b}")
        features.append(x)
    return features


@register("meliusnet")
def meliusnet(x, exits=3, width=24, depth=2, growth=None):
    """MeliusNet-style: `depth` pairs of a dense block (adds `growth` binary-conv channels,
    default half the section's width) and an improvement block (a binary conv over all
    channels, added to those new channels); float transitions (max-pool, ReLU, 1×1 conv)
    between sections. Exit k pools the full state of section k.

    Args:
        x: the log-mel image, a Keras tensor [batch, frames, bins, 1].
        exits: the number of sections (exits).
        width: the channels the first section starts with (the stem's output).
        depth: dense + improvement pairs per section (one int, or one per section).
        growth: new channels per pair in the first section (scaled with the section's width); None: half
            the section's width.

    Returns:
        The state at the end of each section, one per exit.

    Raises:
        ConfigError: for a width, depth or growth that is not a whole number >= 1, or a `depth` sequence of
            the wrong length.
    """
    _check(width=width, depth=depth, growth=growth)
    widths, per_section = _widths(exits, width), depths(exits, depth)
    x = blocks.stem(x, widths[0])
    features = []
    for s, filters in enumerate(widths, 1):
        if s > 1:
            x = blocks.transition(x, filters, name=f"s{s}_transition")
        g = growth * filters // width if growth else max(1, filters // 2)
        for b in range(1, per_section[s - 1] + 1):
            x = blocks.dense_layer(x, g, name=f"s{s}_d{b}")
            x = blocks.improvement_layer(x, g, name=f"s{s}_i{b}")
        features.append(x)
    return features


@tf.keras.utils.register_keras_serializable(package="models")
class StopGradient(layers.Layer):
    """The identity forward, no gradient backward (`tf.stop_gradient`): a later exit's embedding head
    reads an earlier exit's pooled features without training them. Absent from inference graphs."""

    def call(self, x):
        """The input, with no gradient flowing back through it.

        Args:
            x: a tensor.

        Returns:
            `tf.stop_gradient(x)`.
        """
        return tf.stop_gradient(x)

    def compute_output_shape(self, input_shape):
        """The input's shape.

        Args:
            input_shape: a shape.

        Returns:
            The same shape.
        """
        return input_shape


@tf.keras.utils.register_keras_serializable(package="models")
class TimePool(layers.Layer):
    """[batch, time, freq, channels] → [batch, freq × channels]: the mean over time, every frequency
    row kept. Keeps what a global average pool throws away, where in the spectrum the activity is,
    at the rows × the classifier's size.

    ```python
    TimePool()(tf.ones([2, 25, 16, 48])).shape          # [2, 768]
    ```
    """

    def call(self, x):
        """Pool a feature map.

        Args:
            x: a tensor [batch, time, freq, channels].

        Returns:
            A tensor [batch, freq × channels], rows in frequency order.
        """
        m = tf.reduce_mean(x, axis=1)  # [batch, freq, channels]
        return tf.reshape(m, [-1, m.shape[1] * m.shape[2]])

    def compute_output_shape(self, input_shape):
        """The output shape for an input of shape `input_shape`.

        Args:
            input_shape: [batch, time, freq, channels].

        Returns:
            A `tf.TensorShape` [batch, freq × channels].
        """
        return tf.TensorShape([input_shape[0], input_shape[2] * input_shape[3]])


HEAD_POOLS = ("global", "time")


@tf.keras.utils.register_keras_serializable(package="models")
class StatsPool(layers.Layer):
    """[batch, time, freq, channels] → the mean and standard deviation of every channel (x-vector
    statistics pooling, Snyder et al. 2018): over time and frequency ([batch, 2 × channels]), or, with
    `per_band`, over time only, each frequency row kept ([batch, 2 × freq × channels]). How much a
    channel varies over the clip says more about a voice or a language than its mean alone.

    ```python
    StatsPool()(tf.ones([2, 25, 10, 48])).shape               # [2, 96]
    StatsPool(per_band=True)(tf.ones([2, 25, 10, 48])).shape  # [2, 960]
    ```
    """

    def __init__(self, per_band=False, **kwargs):
        super().__init__(**kwargs)
        self.per_band = bool(per_band)

    def call(self, x):
        """Pool a feature map.

        Args:
            x: a tensor [batch, time, freq, channels].

        Returns:
            The means then the standard deviations: [batch, 2 × channels], or [batch, 2 × freq × channels]
            with `per_band`.
        """
        axes = [1] if self.per_band else [1, 2]
        mean = tf.reduce_mean(x, axis=axes)
        std = tf.sqrt(tf.reduce_mean(tf.square(x - tf.reduce_mean(x, axis=axes, keepdims=True)), axis=axes) + 1e-5)
        return tf.reshape(tf.concat([mean, std], axis=-1), [-1, self.compute_output_shape(x.shape)[1]])

    def compute_output_shape(self, input_shape):
        """The output shape for an input of shape `input_shape`.

        Args:
            input_shape: [batch, time, freq, channels].

        Returns:
            A `tf.TensorShape` [batch, 2 × channels] ([batch, 2 × freq × channels] with `per_band`).
        """
        n = input_shape[3] * (input_shape[2] if self.per_band else 1)
        return tf.TensorShape([input_shape[0], 2 * n])

    def get_config(self):
        """The layer's config.

        Returns:
            Keras' layer config with "per_band".
        """
        return {**super().get_config(), "per_band": self.per_band}


# what each exit's embedding head (and a "global" classifier) sees, by name: layer `exit{k}_pool`
EMBEDDING_POOLS = {
    "global": lambda name: layers.GlobalAveragePooling2D(name=name),
    "stats": lambda name: StatsPool(name=name),
    "band_stats": lambda name: StatsPool(per_band=True, name=name),
}


def family_options(family):
    """The keyword arguments a family takes besides `exits` (e.g. width, depth).

    Args:
        family: a key of `FAMILIES`.

    Returns:
        {argument name: its default}.

    Raises:
        ConfigError: when no family has that name.
    """
    params = inspect.signature(get(family)).parameters
    return {n: p.default for n, p in params.items() if n not in ("x", "exits")}


def build(
    family="quicknet",
    num_classes=12,
    embedding_dim=1024,
    exits=3,
    clip_samples=SAMPLE_RATE,
    num_mel_bins=40,
    spec_augment=False,
    seed=0,
    frontend=None,
    head_pool="time",
    embedding_pool="band_stats",
    aggregate=False,
    **family_kwargs,
):
    """Raw audio [batch, clip_samples] → {exitK_embedding, exitK_probs} for K = 1..exits.

    `spec_augment=True` (or a dict of `SpecAugment` arguments) puts a seeded `SpecAugment`
    (time and frequency masks, training only) after the input batch norm; at inference it is
    the identity and is absent from TFLite.
    `family_kwargs` go to the family (`width`, `depth`, ...; see `family_options`). `None`
    values are dropped, so callers can pass optional flags through. `frontend` (a dict) overrides
    `LogMel`'s framing, e.g. {"frame_step": 320, "fft_length": 512} for a 20 ms hop.
    `head_pool` is what each exit's classifier sees: "global" (the pooled features the embedding
    head sees, `exit{k}_pool`) or "time" (`TimePool`: the mean over time, every frequency row kept).
    `embedding_pool` is what each exit's embedding head sees (`EMBEDDING_POOLS`): "band_stats"
    (`StatsPool(per_band=True)`: mean and standard deviation over time, per frequency row),
    "stats" (the same over time and frequency) or "global" (the average over time and frequency).
    `aggregate=True`: exit k's embedding head reads the pooled features of exits 1..k, concatenated
    (layer `exit{k}_aggregate`; multi-layer feature aggregation, as ECAPA-TDNN's), not only its own;
    the earlier exits' features enter it through `StopGradient`, so exit k's distillation loss does
    not pull on what the earlier sections learn (their classifiers keep the same training signal):
    a deeper exit keeps what the earlier sections' features carry. The classifiers are unchanged.

    Args:
        family: a key of `FAMILIES`.
        num_classes: classes of the task (each exit's softmax).
        embedding_dim: the size of each exit's embedding head (the teacher's).
        exits: the number of exits, a whole number >= 1.
        clip_samples: samples of one clip at 16 kHz (the input's length).
        num_mel_bins: bands of the front end (unless `frontend` sets them).
        spec_augment: False, True, or a dict of `SpecAugment` arguments.
        seed: SpecAugment's seed (unless `spec_augment` sets one).
        frontend: `LogMel` settings (kind, frame_length, frame_step, fft_length, ...); None: the defaults.
        head_pool: a key of `HEAD_POOLS`: "global" or "time".
        embedding_pool: a key of `EMBEDDING_POOLS`.
        aggregate: exit k's embedding head reads the pooled features of exits 1..k.
        **family_kwargs: the family's own options (`family_options`); None values are dropped.

    Returns:
        An untrained Keras model named "{family}_{exits}exits" with outputs {exitK_embedding, exitK_probs}.

    Raises:
        ConfigError: for an unknown family, head pool or embedding pool, a bad exit count, or options the
            family does not take (or rejects).
    """
    if head_pool not in HEAD_POOLS:
        raise ConfigError(f"unknown head pool '{head_pool}'; choose one of {list(HEAD_POOLS)}")
    if embedding_pool not in EMBEDDING_POOLS:
        raise ConfigError(f"unknown embedding pool '{embedding_pool}'; choose one of {sorted(EMBEDDING_POOLS)}")
    fn = get(family)
    if int(exits) != exits or exits < 1:
        raise ConfigError(f"a student needs at least one exit (a whole number), got exits={exits}")
    family_kwargs = {k: v for k, v in family_kwargs.items() if v is not None}
    unknown = sorted(set(family_kwargs) - set(family_options(family)))
    if unknown:
        raise ConfigError(f"student family '{family}' takes no {unknown}; it takes {sorted(family_options(family))}")
    audio = tf.keras.Input((clip_samples,), name="audio")
    x = LogMel(**{"num_mel_bins": num_mel_bins, **(frontend or {})}, name=FRONTEND)(audio)
    x = blocks.batch_norm("input_bn")(x)
    if spec_augment:
        options = spec_augment if isinstance(spec_augment, dict) else {}
        x = SpecAugment(**{"seed": seed, **options}, name="spec_augment")(x)
    features = fn(x, exits=int(exits), **family_kwargs)
    outputs, pools = {}, []
    for k, f in enumerate(features, 1):
        pooled = EMBEDDING_POOLS[embedding_pool](output_name(k, POOL))(f)
        pools.append(pooled)
        read = pooled
        if aggregate and k > 1:
            earlier = [StopGradient(name=f"exit{k}_reads_exit{j}")(p) for j, p in enumerate(pools[:-1], 1)]
            read = layers.Concatenate(name=f"exit{k}_aggregate")(earlier + [pooled])
        outputs[output_name(k, EMBEDDING)] = layers.Dense(embedding_dim, name=output_name(k, EMBEDDING))(read)
        seen = pooled if head_pool == "global" else TimePool(name=f"exit{k}_time_pool")(f)
        outputs[output_name(k, PROBS)] = layers.Dense(num_classes, activation="softmax", name=output_name(k, PROBS))(
            seen
        )
    return tf.keras.Model(audio, outputs, name=f"{family}_{exits}exits")


def exit_ensemble(heads, names):
    """Exit k's embedding as the mean of the embedding heads of exits 1..k: an ensemble of the exits'
    predictions of the same teacher embedding.

    Every exit's head is trained alone to predict the teacher; the deeper heads fit the distillation
    audio best and carry over worst to speech the student never heard, the early ones the reverse.
    Their mean keeps both: on held-out probes with two real teachers it lifted the last exit by 1 to
    11 points on language (docs/experiments/distillation.md). Exit 1 is its own head; nothing is
    trained differently, so this is a readout of a trained student (`export.convert.embedding_model`).

    ```python
    outs = students.exit_ensemble([h1, h2, h3], ["e1", "e2", "e3"])   # [h1, mean(h1, h2), mean(h1, h2, h3)]
    ```

    Args:
        heads: the embedding heads' outputs (Keras tensors of one shape), by exit.
        names: a layer name for each exit's mean (the first is unused: exit 1 is its head).

    Returns:
        The tensors, by exit.
    """
    return [h if k == 1 else layers.Average(name=names[k - 1])(list(heads[:k])) for k, h in enumerate(heads, 1)]


def float_twin(model):
    """The same network with every binary convolution made full-precision: each `QuantConv2D`'s
    input and kernel quantizers and its weight clip removed, nothing else changed (layers, names,
    widths, exits, front end, padding). Fresh weights: train it with the same recipe to measure
    what binarization costs (`--float-twin`).

    ```python
    twin = students.float_twin(students.build("quicknet"))
    ```

    Args:
        model: a student (`build`).

    Returns:
        A new Keras model named "<model>_float_twin" with fresh weights.
    """

    def clone(layer):
        config = layer.get_config()
        if layer.__class__.__name__ == "QuantConv2D":
            config = {**config, "input_quantizer": None, "kernel_quantizer": None, "kernel_constraint": None}
        return layer.__class__.from_config(config)

    twin = tf.keras.models.clone_model(model, clone_function=clone)
    twin._name = f"{model.name}_float_twin"
    return twin


def is_binary(model):
    """True when the model has at least one binary convolution (a `QuantConv2D` with a kernel quantizer).

    Args:
        model: a Keras model.

    Returns:
        A bool.
    """
    return any(
        layer.__class__.__name__ == "QuantConv2D" and layer.kernel_quantizer is not None for layer in model.layers
    )


def classifiers_on_int8_grid(model):
    """Round every exit's classifier kernel, in place, to the int8 grid: one scale per class
    (`models.int8.on_grid`, at most half a step of the class's largest weight / 127 from the trained
    value). A converted file then stores the classifiers as int8 exactly (`export.weights`: a quarter
    of their float bytes, the same decisions as this model's), and what the pipeline scores is what
    the files compute. The biases stay float32; the embedding heads are left alone.

    This is rounding after training, not quantization-aware training: what it costs is whatever the
    rounded model scores less (docs/experiments/early-exit.md measures it).

    ```python
    students.classifiers_on_int8_grid(model)          # 3: the classifiers of exits 1..3
    ```

    Args:
        model: a student (`build`), trained.

    Returns:
        The number of classifiers rounded.
    """
    names = exit_names(model, PROBS)
    for name in names:
        layer = model.get_layer(name)
        kernel, *rest = layer.get_weights()
        layer.set_weights([int8.on_grid(kernel, axis=1), *rest])  # Keras' kernel: [features, classes]
    return len(names)


def exit_names(model, kind=PROBS):
    """Names of the exits' outputs of `kind` of a model built by `build`, by exit: ["exit1_probs", ...].

    Args:
        model: a Keras model whose outputs are named as `output_name` names them.
        kind: EMBEDDING or PROBS.

    Returns:
        The output names of that kind, ordered by exit.
    """
    found = [(parse_output_name(n), n) for n in model.output_names]
    return [n for parsed, n in sorted((p, n) for p, n in found if p and p[1] == kind)]
