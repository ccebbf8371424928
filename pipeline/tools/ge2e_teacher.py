"""A real pretrained *speaker* embedder behind TRILLsson's interface: Resemblyzer's GE2E encoder.

    brillsson ge2e-teacher OUT_DIR [--wheel FILE.whl] [--cache DIR] [--check WAV ...]
    brillsson run --teacher OUT_DIR --data ...

```python
from pipeline.tools import ge2e_teacher as tool
state = tool.read_state(tool.find_wheel(None, "~/.cache/brillsson/wheels"))   # {name: numpy array}
tool.save(tool.build_module(state), "teachers/ge2e")     # then: brillsson run --teacher teachers/ge2e
```

OUT_DIR gets a TensorFlow SavedModel with TRILLsson's TF-Hub interface: called on float32 audio
``[batch, samples]`` at 16 kHz in [-1, 1] (any length) it returns ``{"embedding": [batch, 256]}``
(unit norm, non-negative); the ``serving_default`` signature takes ``audio_samples``.

The model is the GE2E speaker-verification encoder (Wan et al. 2018, "Generalized end-to-end loss
for speaker verification") as Resemblyzer 0.1.4 publishes it (https://github.com/resemble-ai/Resemblyzer,
Apache-2.0): 40 mel bands → LSTM(256) × 3 → the last layer's final state → Linear(256) → ReLU →
L2 normalisation, trained for 1,564,501 steps. Its strength is *who* speaks, the opposite kind of
teacher to `speech-embedding-teacher`'s keyword model. The weights are the file
``resemblyzer/pretrained.pt`` of the PyPI wheel ``resemblyzer==0.1.4``, checked against the wheel's
RECORD and the sha256 pinned below; the wheel comes from ``--wheel``, else the cache folder, else
``pip download --no-deps``. Nothing of it is committed here.

Reading it needs no PyTorch: it is a legacy (pre-1.6) ``torch.save`` file, five pickles in a row (a
magic number, the protocol version, system information, the object, the list of storage keys) and
then each storage's bytes (an int64 element count, then the little-endian data). `read_checkpoint`
unpickles with a restricted `pickle.Unpickler` that knows three globals (`collections.OrderedDict`,
`torch._utils._rebuild_tensor_v2`, `torch.FloatStorage`) and refuses any other, so the file cannot
run code; tensors are numpy views of their storage (offset, shape, strides) copied out.

The graph is Resemblyzer's ``VoiceEncoder.embed_utterance`` (rate 1.3, min_coverage 0.75) after its
volume normalisation, for each row:

* the row's gain raised (never lowered) to -30 dBFS RMS; an all-zero row keeps gain 1;
* the row cut into partial utterances of 160 frames (1.6 s) every 77 frames, as its
  ``compute_partial_slices``: the last one dropped when less than 75 % of it is audio (and it is not
  the only one), the row zero-padded to the end of the last one;
* librosa's mel power spectrogram (its defaults: 400-point FFT of a periodic Hann window, hop 160,
  centred frames with 200 zeros each side, 40 Slaney-normalised Slaney-scale bands from 0 to 8 kHz;
  the filterbank is computed here by `slaney_mel`, the STFT in float32 where librosa uses float64);
* each partial through the encoder, L2-normalised; their mean, L2-normalised again.

One departure: Resemblyzer's ``preprocess_wav`` also drops long silences with webrtcvad; here a clip
is embedded as it is (silences and a batch's zero padding included), so the teacher is a pure function
of its input. ``--check`` compares the SavedModel with `reference`, the same procedure written in
numpy (float64 LSTM, framing by slicing) one clip at a time, to catch a translation error.
"""

from __future__ import annotations

import collections
import io
import pickle
import sys
from typing import Dict, List, Sequence

import numpy as np

from pipeline.tools.wheel import TeacherBuildError, command, find, read_members, read_wav, save_module
from pipeline import usage

WHEEL = "resemblyzer==0.1.4"
MEMBER = "resemblyzer/pretrained.pt"
RECORD = "Resemblyzer-0.1.4.dist-info/RECORD"
# sha256 of resemblyzer/pretrained.pt in resemblyzer 0.1.4 as published on PyPI
PINNED = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
SAMPLE_RATE = 16000
HOP = 160  # samples per frame (10 ms)
FFT = 400  # samples per window (25 ms)
BANDS = 40
PARTIAL_FRAMES = 160  # frames per partial utterance (1.6 s)
PARTIAL_STEP = 77  # frames between partial utterances: round(16000 / 1.3 / 160)
MIN_COVERAGE = 0.75
TARGET_RMS = 10 ** (-30 / 20)  # -30 dBFS


def find_wheel(wheel: str | None, cache: str, quiet: bool = False) -> str:
    """The resemblyzer 0.1.4 wheel: ``wheel``, else one in ``cache``, else downloaded into it."""
    return find(WHEEL, "Resemblyzer-0.1.4-*.whl", wheel, cache, quiet)


class _Storage:
    """A storage the pickle refers to; its bytes come after the pickles."""

    def __init__(self, key: str, dtype: str, size: int):
        self.key, self.dtype, self.size, self.data = key, dtype, size, None


class _Tensor:
    """A tensor as `_rebuild_tensor_v2` describes it: a view of a storage."""

    def __init__(self, storage, offset, shape, stride, *_):
        self.storage, self.offset, self.shape, self.stride = storage, int(offset), tuple(shape), tuple(stride)

    def numpy(self) -> np.ndarray:
        data = self.storage.data
        if self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride)) >= data.size and data.size:
            raise TeacherBuildError(f"a tensor reaches past its storage {self.storage.key}")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.shape, strides=[s * item for s in self.stride]
        )
        return np.array(view)


class _Unpickler(pickle.Unpickler):
    """Only what a legacy torch state dict needs: anything else is refused, so no code runs."""

    GLOBALS = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _Tensor,
        ("torch", "FloatStorage"): "float32",
    }

    def __init__(self, f):
        super().__init__(f)
        self.storages: Dict[str, _Storage] = {}

    def find_class(self, module, name):
        try:
            return self.GLOBALS[(module, name)]
        except KeyError:
            raise TeacherBuildError(f"the checkpoint refers to {module}.{name}, which this reader refuses") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and pid[1] == "float32"):
            raise TeacherBuildError(f"the checkpoint holds a storage this reader does not know: {pid!r:.80}")
        key = str(pid[2])
        return self.storages.setdefault(key, _Storage(key, pid[1], int(pid[4])))


def read_checkpoint(data: bytes) -> dict:
    """A legacy (pre-1.6) `torch.save` file of float32 tensors → the saved object, tensors as numpy arrays.

    Args:
        data: the file's bytes.

    Returns:
        The object (for Resemblyzer: {"step", "model_state", "optimizer_state"}), every tensor a numpy array.

    Raises:
        TeacherBuildError: not such a file, a global other than a tensor's, or storages that do not add up.
    """
    f = io.BytesIO(data)
    try:
        magic, version = _Unpickler(f).load(), _Unpickler(f).load()  # every pickle restricted
        if magic != 0x1950A86A20F9469CFC6C or version != 1001:
            raise TeacherBuildError("not a legacy torch.save file (magic number or protocol version)")
        info = _Unpickler(f).load()
        if not isinstance(info, dict) or not info.get("little_endian", False):
            raise TeacherBuildError("not a little-endian legacy torch.save file")
        unpickler = _Unpickler(f)
        obj = unpickler.load()
        keys = _Unpickler(f).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as e:
        raise TeacherBuildError(f"not a legacy torch.save file ({e})") from e
    for key in keys:
        count = int(np.frombuffer(f.read(8), "<i8")[0]) if len(data) - f.tell() >= 8 else -1
        storage = unpickler.storages.get(str(key))
        raw = f.read(4 * max(count, 0))
        if count < 0 or len(raw) != 4 * count or (storage and count != storage.size):
            raise TeacherBuildError(f"storage {key}: its bytes are missing or not its size")
        if storage:
            storage.data = np.frombuffer(raw, "<f4")
    missing = [k for k, s in unpickler.storages.items() if s.data is None]
    if missing:
        raise TeacherBuildError(f"storages without bytes: {missing[:3]}")

    def materialise(x):
        if isinstance(x, _Tensor):
            return x.numpy()
        if isinstance(x, dict):
            return type(x)((k, materialise(v)) for k, v in x.items())
        if isinstance(x, (list, tuple)):
            return type(x)(materialise(v) for v in x)
        return x

    return materialise(obj)


def read_state(wheel: str) -> Dict[str, np.ndarray]:
    """The encoder's weights from the resemblyzer 0.1.4 wheel: {"lstm.weight_ih_l0", ..., "linear.bias"}.

    Args:
        wheel: the wheel's path.

    Returns:
        The LSTM and linear layers' tensors by PyTorch name.

    Raises:
        TeacherBuildError: the wheel or the file is not the published one, or it is not a GE2E encoder.
    """
    data = read_members(wheel, {"weights": MEMBER}, RECORD, {"weights": PINNED}, "resemblyzer 0.1.4")["weights"]
    state = read_checkpoint(data).get("model_state", {})
    return check_state(state)


def check_state(state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Only the encoder's tensors, checked for an LSTM stack's shapes.

    Args:
        state: a state dict ("lstm.weight_ih_l0", ... "linear.weight", "linear.bias"; others are ignored).

    Returns:
        The encoder's tensors, float32.

    Raises:
        TeacherBuildError: a tensor missing or of the wrong shape.
    """
    layers = sum(1 for k in state if k.startswith("lstm.weight_ih_l"))
    if not layers or "linear.weight" not in state:
        raise TeacherBuildError("the checkpoint holds no LSTM encoder (lstm.weight_ih_l0, linear.weight)")
    hidden = state["lstm.weight_hh_l0"].shape[1]
    out = {}
    for i in range(layers):
        for name, shape in (
            (f"lstm.weight_ih_l{i}", (4 * hidden, BANDS if i == 0 else hidden)),
            (f"lstm.weight_hh_l{i}", (4 * hidden, hidden)),
            (f"lstm.bias_ih_l{i}", (4 * hidden,)),
            (f"lstm.bias_hh_l{i}", (4 * hidden,)),
        ):
            if name not in state or tuple(state[name].shape) != shape:
                raise TeacherBuildError(f"{name}: expected shape {shape}")
            out[name] = np.asarray(state[name], np.float32)
    if state["linear.weight"].shape[1] != hidden:
        raise TeacherBuildError(f"linear.weight: expected {hidden} inputs")
    out["linear.weight"] = np.asarray(state["linear.weight"], np.float32)
    out["linear.bias"] = np.asarray(state["linear.bias"], np.float32)
    return out


def slaney_mel(sample_rate: int = SAMPLE_RATE, n_fft: int = FFT, bands: int = BANDS) -> np.ndarray:
    """librosa's default mel filterbank (`librosa.filters.mel(sr, n_fft, n_mels)`: Slaney's mel scale, linear
    below 1 kHz and logarithmic above, triangles normalised to equal area), written out because librosa
    is not a dependency of this project.

    Args:
        sample_rate: Hz.
        n_fft: the FFT's length.
        bands: mel bands from 0 Hz to the Nyquist frequency.

    Returns:
        The filterbank [bands, n_fft // 2 + 1], float32.
    """
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def to_mel(f):
        f = np.asarray(f, np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def to_hz(m):
        m = np.asarray(m, np.float64)
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_hz = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_hz = to_hz(np.linspace(to_mel(0.0), to_mel(sample_rate / 2), bands + 2))
    ramps = mel_hz[:, None] - fft_hz[None, :]
    width = np.diff(mel_hz)
    lower, upper = -ramps[:-2] / width[:-1, None], ramps[2:] / width[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)) * (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def partial_starts(samples: int) -> List[int]:
    """The first frame of each partial utterance of a clip (Resemblyzer's `compute_partial_slices`).

    Args:
        samples: the clip's length.

    Returns:
        The start frames, every `PARTIAL_STEP` frames; at least one.
    """
    frames = (samples + HOP) // HOP  # ceil((samples + 1) / HOP)
    starts = list(range(0, max(1, frames - PARTIAL_FRAMES + PARTIAL_STEP + 1), PARTIAL_STEP))
    coverage = (samples - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts.pop()
    return starts


def build_module(state: Dict[str, np.ndarray]):
    """The teacher as a `tf.Module` with TRILLsson's call and a `serving_default` signature.

    Args:
        state: the encoder's tensors (`read_state`).

    Returns:
        The module: ``module(audio [batch, samples])`` → ``{"embedding": [batch, 256]}``.
    """
    import tensorflow as tf

    state = check_state(state)
    layers = sum(1 for k in state if k.startswith("lstm.weight_ih_l"))
    hidden = state["lstm.weight_hh_l0"].shape[1]
    lstms = []
    for i in range(layers):
        # PyTorch's gates (input, forget, cell, output) are Keras' order; its two biases add up
        lstm = tf.keras.layers.LSTM(hidden, return_sequences=i < layers - 1, name=f"lstm_{i}")
        lstm.build((None, None, BANDS if i == 0 else hidden))
        lstm.set_weights(
            [
                state[f"lstm.weight_ih_l{i}"].T,
                state[f"lstm.weight_hh_l{i}"].T,
                state[f"lstm.bias_ih_l{i}"] + state[f"lstm.bias_hh_l{i}"],
            ]
        )
        lstms.append(lstm)
    linear_w, linear_b = tf.constant(state["linear.weight"].T), tf.constant(state["linear.bias"])
    mel = tf.constant(slaney_mel().T)  # [FFT // 2 + 1, BANDS]

    def embed(audio):
        audio = tf.convert_to_tensor(audio, tf.float32)
        rms = tf.sqrt(tf.reduce_mean(tf.square(audio), axis=1, keepdims=True))
        audio = audio * tf.where(rms > 0, tf.maximum(1.0, TARGET_RMS / tf.maximum(rms, 1e-12)), 1.0)
        # partial utterances: `partial_starts` in tensor ops (every row has the batch's length)
        samples = tf.shape(audio)[1]
        frames = (samples + HOP) // HOP
        count = (tf.maximum(1, frames - PARTIAL_FRAMES + PARTIAL_STEP + 1) + PARTIAL_STEP - 1) // PARTIAL_STEP
        coverage = tf.cast(samples - (count - 1) * PARTIAL_STEP * HOP, tf.float32) / (PARTIAL_FRAMES * HOP)
        count = tf.where((coverage < MIN_COVERAGE) & (count > 1), count - 1, count)
        end = ((count - 1) * PARTIAL_STEP + PARTIAL_FRAMES) * HOP
        audio = tf.pad(audio, [[0, 0], [0, tf.maximum(0, end - samples)]])
        # librosa's centred frames: FFT // 2 zeros each side, then a 400-point periodic-Hann STFT
        padded = tf.pad(audio, [[0, 0], [FFT // 2, FFT // 2]])
        spec = tf.signal.stft(padded, FFT, HOP, FFT, window_fn=tf.signal.hann_window, pad_end=False)
        power = tf.matmul(tf.square(tf.abs(spec)), mel)  # [batch, frames, BANDS]
        windows = tf.signal.frame(power, PARTIAL_FRAMES, PARTIAL_STEP, axis=1)[:, :count]
        batch = tf.shape(windows)[0]
        x = tf.reshape(windows, [-1, PARTIAL_FRAMES, BANDS])
        for lstm in lstms:
            x = lstm(x)
        x = tf.math.l2_normalize(tf.nn.relu(tf.matmul(x, linear_w) + linear_b), axis=-1)
        x = tf.reduce_mean(tf.reshape(x, [batch, count, -1]), axis=1)
        return {"embedding": tf.math.l2_normalize(x, axis=-1)}

    class GE2E(tf.Module):
        def __init__(self):
            super().__init__()
            self.lstms = lstms  # tracked, so the SavedModel holds their weights

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
        def __call__(self, audio):
            return embed(audio)

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="audio_samples")])
        def serve(self, audio_samples):
            return embed(audio_samples)

    return GE2E()


def save(module, out: str) -> str:
    """Save atomically: into a sibling temporary folder, then renamed onto ``out``."""
    return save_module(module, out)


def reference(state: Dict[str, np.ndarray], audio: np.ndarray) -> np.ndarray:
    """The same procedure in numpy, one clip: float64 LSTM step by step, framing by slicing.

    Args:
        state: the encoder's tensors.
        audio: one clip [samples] at 16 kHz.

    Returns:
        Its embedding [256].
    """
    audio = np.asarray(audio, np.float64)
    rms = np.sqrt(np.mean(audio**2))
    if rms > 0:
        audio = audio * max(1.0, TARGET_RMS / rms)
    starts = partial_starts(len(audio))
    end = (starts[-1] + PARTIAL_FRAMES) * HOP
    audio = np.pad(audio, (0, max(0, end - len(audio))))
    padded = np.pad(audio, (FFT // 2, FFT // 2))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FFT) / FFT)
    frames = 1 + (len(padded) - FFT) // HOP
    spec = np.fft.rfft(np.stack([padded[i * HOP : i * HOP + FFT] * window for i in range(frames)]), FFT)
    power = (np.abs(spec) ** 2) @ slaney_mel().T.astype(np.float64)
    layers = sum(1 for k in state if k.startswith("lstm.weight_ih_l"))

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    vectors = []
    for s in starts:
        x = power[s : s + PARTIAL_FRAMES]
        for i in range(layers):
            w_ih, w_hh = state[f"lstm.weight_ih_l{i}"].astype(np.float64), state[f"lstm.weight_hh_l{i}"]
            b = (state[f"lstm.bias_ih_l{i}"] + state[f"lstm.bias_hh_l{i}"]).astype(np.float64)
            h = c = np.zeros(w_hh.shape[1])
            outs = []
            for t in range(len(x)):
                gi, gf, gg, go = np.split(w_ih @ x[t] + w_hh.astype(np.float64) @ h + b, 4)
                c = sigmoid(gf) * c + sigmoid(gi) * np.tanh(gg)
                h = sigmoid(go) * np.tanh(c)
                outs.append(h)
            x = np.array(outs)
        v = np.maximum(0, state["linear.weight"].astype(np.float64) @ x[-1] + state["linear.bias"])
        vectors.append(v / max(np.linalg.norm(v), 1e-12))
    v = np.mean(vectors, axis=0)
    return (v / max(np.linalg.norm(v), 1e-12)).astype(np.float32)


def check(out: str, state: Dict[str, np.ndarray], wavs: List[str], quiet: bool = False) -> float:
    """Largest absolute difference between the saved teacher and `reference` over `wavs` (unit vectors).

    Args:
        out: the SavedModel's folder.
        state: the encoder's tensors.
        wavs: 16 kHz 16-bit WAV files.
        quiet: no line per clip.

    Returns:
        The largest |difference| of any element.
    """
    import tensorflow as tf

    teacher = tf.saved_model.load(out)
    worst = 0.0
    for path in wavs:
        audio = read_wav(path)
        got = teacher(tf.constant(audio[None]))["embedding"].numpy()[0]
        diff = float(np.abs(got - reference(state, audio)).max())
        if not quiet:
            print(f"{path}: max |difference| = {diff:.2e}", file=sys.stderr)
        worst = max(worst, diff)
    return worst


def main(argv: Sequence[str] | None = None, prog: str = "brillsson ge2e-teacher") -> str:
    """The command: build (and optionally check) the teacher; returns its folder."""
    return command(
        argv,
        prog=prog,
        description=usage.summary(__doc__),
        wheel_name="the resemblyzer-0.1.4 wheel",
        check_help="the numpy reference",
        read=lambda wheel, cache, quiet: read_state(find_wheel(wheel, cache, quiet)),
        build=build_module,
        check=check,
        dims=256,
    )


if __name__ == "__main__":
    main()
