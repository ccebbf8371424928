"""Log-mel front end inside the graph, so the exported model takes raw 16 kHz audio.

```python
import tensorflow as tf
from models.frontend import LogMel, SpecAugment
feats = LogMel(num_mel_bins=40)(tf.zeros([2, 16000]))          # [2, frames, 40, 1], "gabor"
feats = LogMel(num_mel_bins=40, kind="stft")(tf.zeros([2, 16000]))  # log-mel magnitudes, FFT ops
feats = SpecAugment(seed=0)(feats, training=True)              # time/frequency masks, training only
sorted(FRONTENDS)                                              # ['dft', 'gabor', 'stft']
```
How the spectrum is computed is chosen by name (`FRONTENDS`); on a device it is the cost that
matters, since the front end runs in float on every clip before the first exit:

- "stft": `tf.signal.stft`, which lowers to TFLite's RFFT2D + ComplexAbs (every FFT bin, then
  the mel matmul).
- "dft": the same log-mel features (to float rounding), with the DFT computed as one strided
  convolution over the raw audio whose kernels are the windowed cosines and sines of only the
  FFT bins the mel filters use, as Google's KWS front ends do (kws_streaming's
  `mel_non_zero_only`, YAMNet's TFLite path). No framing op, no FFT op: one CONV_2D, which every
  TFLite runtime runs with its optimised GEMM (ruy / XNNPACK, NEON on ARM).
- "gabor" (the default): one complex Gabor filter per mel band (a Gaussian-windowed complex
  sinusoid at the band's centre, its bandwidth the band's; LEAF's initialisation, Zeghidour et
  al. 2021), fixed, as a strided convolution; log of the squared magnitude. 2 × num_mel_bins
  kernels instead of 2 × (used bins): about a sixth of "dft"'s multiply-accumulates at a 25 ms
  window. Measured on the demo (3 seeds, full schedule): a 4.4x cheaper front end than "stft"
  with LCE here (1.6x on the Raspberry Pi 4 estimate), last-exit accuracy within one standard
  error (docs/experiments/front-end.md).

"stft" is the front end of earlier versions: a saved layer config without `kind` loads as "stft".
"""

import dataclasses
import math
from typing import Tuple

import numpy as np
import scipy.signal
import tensorflow as tf

from models import int8
from models.errors import ConfigError

SAMPLE_RATE = 16000  # Hz: the one sample rate of every clip, teacher call and model input
FRONTEND_KINDS = ("dft", "gabor", "multirate", "stft")
DEFAULT_KIND = "gabor"
# the values of a front end's fixed filter bank, which every converted file then stores exactly
# (`export.weights.compact`): "float16" (the default) rounds each value to float16 (half the bank's
# bytes; a relative change of at most 2^-11 per value; on the demo the last exit within the seeds'
# spread of float32's over 5 seeds), "int8" each filter to the int8 grid (`models.int8.on_grid`: a quarter of the
# bytes, but on the demo the last exit lost 6 points over 3 seeds), docs/experiments/early-exit.md
FILTER_PRECISIONS = ("float32", "float16", "int8")
DEFAULT_FILTERS = "float16"


def filter_bank(kernels, filters, axis=1):
    """A front end's fixed filters as the network uses them: unchanged ("float32"), each value rounded to
    the nearest float16 ("float16"), or rounded to the int8 grid of one scale per filter ("int8":
    `models.int8.on_grid`, at most half a step of the filter's peak / 127 from the float value), so
    that a converted file stores them as float16 or int8 exactly.

    Args:
        kernels: a float array whose `axis` indexes the filters.
        filters: a key of `FILTER_PRECISIONS`.
        axis: the filters' axis.

    Returns:
        A float32 array of the same shape.
    """
    if filters == "int8":
        return int8.on_grid(kernels, axis)
    if filters == "float16":
        return np.asarray(kernels, np.float16).astype(np.float32)
    return np.asarray(kernels, np.float32)


def log_mel(
    audio,
    sample_rate=SAMPLE_RATE,
    frame_length=400,
    frame_step=160,
    fft_length=512,
    num_mel_bins=64,
    lower_edge_hertz=60.0,
    upper_edge_hertz=7800.0,
):
    """float32 audio [batch, samples] → log-mel magnitudes [batch, frames, num_mel_bins] (`tf.signal.stft`).

    Args:
        audio: a float32 tensor [batch, samples].
        sample_rate: Hz.
        frame_length: samples per frame.
        frame_step: samples between frame starts.
        fft_length: the FFT's size.
        num_mel_bins: mel bands.
        lower_edge_hertz: the lowest band's lower edge.
        upper_edge_hertz: the highest band's upper edge.

    Returns:
        log(mel-weighted magnitudes + 1e-6), a tensor [batch, frames, num_mel_bins].
    """
    stft = tf.signal.stft(audio, frame_length=frame_length, frame_step=frame_step, fft_length=fft_length, pad_end=False)
    mag = tf.abs(stft)
    mel = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins, fft_length // 2 + 1, sample_rate, lower_edge_hertz, upper_edge_hertz
    )
    return tf.math.log(tf.matmul(mag, mel) + 1e-6)


def framing(window_ms, hop_ms, sample_rate=SAMPLE_RATE):
    """A window and a hop in milliseconds → `LogMel`'s framing in samples (the FFT: the next power of two).

    Args:
        window_ms: the frame's length.
        hop_ms: the step between frames.
        sample_rate: Hz.

    Returns:
        {"frame_length", "fft_length", "frame_step"}, ints.
    """
    window = int(round(window_ms * sample_rate / 1000))
    return {
        "frame_length": window,
        "fft_length": 1 << (window - 1).bit_length(),
        "frame_step": int(round(hop_ms * sample_rate / 1000)),
    }


def num_frames(samples, frame_length=400, frame_step=160):
    """The whole frames in `samples` samples (no padding at the end).

    Args:
        samples: the audio's length.
        frame_length: samples per frame.
        frame_step: samples between frame starts.

    Returns:
        1 + (samples - frame_length) // frame_step (negative or 0 when there is no whole frame).
    """
    return 1 + (samples - frame_length) // frame_step


def dft_kernels(
    sample_rate=SAMPLE_RATE,
    frame_length=400,
    fft_length=512,
    num_mel_bins=64,
    lower_edge_hertz=60.0,
    upper_edge_hertz=7800.0,
):
    """The "dft" front end's constants: (kernels [frame_length, 2 × used bins], mel [used bins, num_mel_bins]).

    Kernel columns are the periodic-Hann-windowed cosines, then the negated sines, of the FFT bins
    (of a `fft_length`-point transform of the frame zero-padded at the end, as `tf.signal.stft`
    does) that carry any mel weight; `mel` is the mel matrix's rows for those bins.

    Args:
        sample_rate: Hz.
        frame_length: samples per frame.
        fft_length: the size of the transform the bins are those of.
        num_mel_bins: mel bands.
        lower_edge_hertz: the lowest band's lower edge.
        upper_edge_hertz: the highest band's upper edge.

    Returns:
        (kernels, mel), float32 numpy arrays; the used bins are the span from the first to the last with weight.
    """
    with tf.init_scope():  # constants, also while a graph is being traced
        mel = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins, fft_length // 2 + 1, sample_rate, lower_edge_hertz, upper_edge_hertz
        ).numpy()
    used = np.nonzero(mel.sum(axis=1) > 0)[0]
    bins = np.arange(used[0], used[-1] + 1)
    n = np.arange(frame_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / frame_length)  # tf.signal.hann_window(periodic=True)
    angle = 2 * np.pi * np.outer(n, bins) / fft_length
    kernels = np.concatenate([window[:, None] * np.cos(angle), -window[:, None] * np.sin(angle)], axis=1)
    return kernels.astype(np.float32), mel[bins].astype(np.float32)


def _gabor_bands(sample_rate, frame_length, num_mel_bins, lower_edge_hertz, upper_edge_hertz):
    """The Gabor filters' centres (Hz) and Gaussian time widths (s), one per mel band (see `gabor_kernels`)."""

    def hz_to_mel(f):
        return 1127.0 * np.log1p(np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * np.expm1(np.asarray(m) / 1127.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(lower_edge_hertz), hz_to_mel(upper_edge_hertz), num_mel_bins + 2))
    centres, fwhm = edges[1:-1], (edges[2:] - edges[:-2]) / 2.0
    sigma_f = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))  # Hz
    sigma_t = np.minimum(1.0 / (2.0 * np.pi * sigma_f), frame_length / 6.0 / sample_rate)  # s
    return centres, sigma_t


def _gabor_filters(t, centres, sigma_t):
    """Gabor filters sampled at times `t` (s, from the frame's centre) → [len(t), 2 × bands]: real parts, then
    imaginary parts, each scaled to unit gain at its centre frequency."""
    envelope = np.exp(-0.5 * (t[:, None] / sigma_t[None, :]) ** 2)
    envelope /= envelope.sum(axis=0, keepdims=True)  # unit gain at the centre frequency
    phase = 2 * np.pi * t[:, None] * centres[None, :]
    return np.concatenate([envelope * np.cos(phase), envelope * np.sin(phase)], axis=1).astype(np.float32)


def gabor_kernels(
    sample_rate=SAMPLE_RATE, frame_length=400, num_mel_bins=64, lower_edge_hertz=60.0, upper_edge_hertz=7800.0
):
    """The "gabor" front end's kernels [frame_length, 2 × num_mel_bins]: real parts, then imaginary parts.

    Band n is centred on the n-th of `num_mel_bins` mel-spaced frequencies (the centres of
    `tf.signal.linear_to_mel_weight_matrix`'s triangles); its Gaussian window's frequency width
    (full width at half maximum) is the triangle's, its time width capped so that ±3 standard
    deviations fit in the frame. Each filter is scaled to unit gain at its centre frequency.

    Args:
        sample_rate: Hz.
        frame_length: samples per frame (the filters' length).
        num_mel_bins: mel bands, one filter each.
        lower_edge_hertz: the lowest band's lower edge.
        upper_edge_hertz: the highest band's upper edge.

    Returns:
        The kernels, a float32 numpy array [frame_length, 2 × num_mel_bins].
    """
    centres, sigma_t = _gabor_bands(sample_rate, frame_length, num_mel_bins, lower_edge_hertz, upper_edge_hertz)
    t = (np.arange(frame_length) - (frame_length - 1) / 2.0) / sample_rate
    return _gabor_filters(t, centres, sigma_t)


@dataclasses.dataclass(frozen=True)
class RateGroup:
    """Contiguous mel bands that the "multirate" front end filters at one sample rate.

    `level`: the audio decimated by 2**level; `bands`: (first, stop) band indices; `begin`: samples of the
    decimated audio before frame 0's first tap; `kernels`: [taps, 2 × bands], real then imaginary parts.
    """

    level: int
    bands: Tuple[int, int]
    begin: int
    kernels: np.ndarray


# decimated samples one step of the halving convolution computes (see `_halve`). Measured with LCE here
# (whole front end, 1 s): 2 → 0.207 ms, 4 → 0.140, 8 → 0.110, 16 → 0.095, 32 → 0.097 ("gabor": 0.098);
# the zero taps it adds cost MACs on the Pi estimate (8: 0.363 ms, 16: 0.395; "gabor": 0.599)
HALVING_CHANNELS = 16


def multirate_plan(
    sample_rate=SAMPLE_RATE,
    frame_length=400,
    frame_step=160,
    num_mel_bins=64,
    lower_edge_hertz=60.0,
    upper_edge_hertz=7800.0,
    max_level=2,
    lowpass_taps=18,
    margin=0.8,
    sigmas=3.0,
):
    """The "multirate" front end's constants: the Gabor filters of "gabor", each band at the lowest sample rate
    that holds it and cut to the samples where its window is not negligible.

    A low mel band is narrow in frequency, so its filter is long in time (the whole 25 ms frame) but
    needs few samples of it; a high band needs the full rate but only a short window. So the audio is
    halved in rate up to `max_level` times (a Kaiser-windowed-sinc low-pass of `lowpass_taps` taps,
    stride 2); band n is filtered at the lowest rate whose Nyquist frequency, times `margin` (the
    low-pass's transition band), is above its centre + 3 standard deviations of its Gaussian; its taps
    span ±`sigmas` standard deviations of its window, cut to the samples whose receptive field lies in
    the frame, so frame t of every rate sees only frame t's audio and the full-rate frame grid holds.
    Bands at one rate form one group, one strided convolution. A level is used only when 2**level
    divides `frame_step` (each rate's hop is a whole number of its samples).

    Args:
        sample_rate: Hz.
        frame_length: samples per frame (the longest window).
        frame_step: samples between frame starts.
        num_mel_bins: mel bands.
        lower_edge_hertz: the lowest band's lower edge.
        upper_edge_hertz: the highest band's upper edge.
        max_level: the most halvings of the sample rate.
        lowpass_taps: the anti-alias low-pass's length.
        margin: the fraction of a rate's Nyquist frequency a band's top may reach.
        sigmas: the window's half-length in standard deviations of its Gaussian.

    Returns:
        (lowpass, groups): the low-pass filter (float32 [lowpass_taps], unit gain at 0 Hz; None when no
        band is decimated) and a list of `RateGroup`, in band order.
    """
    centres, sigma_t = _gabor_bands(sample_rate, frame_length, num_mel_bins, lower_edge_hertz, upper_edge_hertz)
    levels = max_level
    # a level's hop must be whole samples, and its low-pass chain must leave part of the frame
    while levels > 0 and (frame_step % 2**levels or (2**levels - 1) * (lowpass_taps - 1) >= frame_length // 2):
        levels -= 1
    top = centres + 3.0 / (2.0 * np.pi * sigma_t)  # Hz: the centre + 3 standard deviations of the band's Gaussian
    band_level = [
        max([k for k in range(levels + 1) if t <= margin * sample_rate / 2 ** (k + 1)], default=0) for t in top
    ]
    centre = (frame_length - 1) / 2.0  # the frame's centre, in full-rate samples from its start
    groups = []
    for k in sorted(set(band_level), reverse=True):  # the lowest bands first
        members = [b for b, lv in enumerate(band_level) if lv == k]
        first, stop = members[0], members[-1] + 1
        # decimated sample j is the low-pass chain's output over full-rate samples rate*j .. rate*j + 2*delay
        rate, delay = 2**k, (2**k - 1) * (lowpass_taps - 1) / 2.0
        half = min(sigmas * float(sigma_t[first:stop].max()) * sample_rate, centre - delay)
        begin = int(math.ceil((centre - half - delay) / rate - 1e-9))
        last = int(math.floor((centre + half - delay) / rate + 1e-9))
        t = (rate * np.arange(begin, last + 1) + delay - centre) / sample_rate
        groups.append(RateGroup(k, (first, stop), begin, _gabor_filters(t, centres[first:stop], sigma_t[first:stop])))
    lowpass = None
    if max(g.level for g in groups) > 0:
        # scipy's firwin: a Kaiser-windowed sinc at the halved rate's Nyquist frequency, unit gain at 0 Hz
        lowpass = scipy.signal.firwin(lowpass_taps, 0.5, window=("kaiser", 3.0)).astype(np.float32)
    return lowpass, groups


def _halving_kernel(lowpass, channels=HALVING_CHANNELS):
    """[taps + 2 (channels - 1), 1, channels]: channel c is `lowpass` shifted by 2c samples."""
    k = np.zeros((lowpass.size + 2 * (channels - 1), 1, channels), np.float32)
    for c in range(channels):
        k[2 * c : 2 * c + lowpass.size, 0, c] = lowpass
    return k


def _halve(x, lowpass, channels=HALVING_CHANNELS):
    """x [batch, samples] → low-passed and decimated by 2 [batch, ≥ (samples - taps) // 2 + 1].

    One strided convolution computes `channels` consecutive decimated samples per step (a 1-channel
    convolution of stride 2 spends its time on im2col, not on MACs: measured 7x slower in LCE here);
    the end is padded so every decimated sample of the unpadded audio is there (on the 2-D tensor:
    TFLite's PAD of a 3-D one measured 10x slower). Samples past those see the padding: the caller
    crops its frames to the full-rate grid, which never reads them."""
    x = tf.expand_dims(tf.pad(x, [[0, 0], [0, 2 * (channels - 1)]]), -1)
    y = tf.nn.conv1d(x, tf.constant(_halving_kernel(lowpass, channels)), stride=2 * channels, padding="VALID")
    return tf.reshape(y, [tf.shape(y)[0], -1])


def _strided(audio, kernels, frame_step):
    """audio [batch, samples] → [batch, frames, kernels]: one VALID conv, stride `frame_step` (TFLite CONV_2D)."""
    x = tf.expand_dims(audio, -1)  # not tf.reshape to a fixed length: the streaming front end resizes its input
    return tf.nn.conv1d(x, tf.constant(kernels[:, None, :]), stride=frame_step, padding="VALID")


def _stft(audio, p, filters):
    return log_mel(audio, **p)  # no filter bank of its own: the FFT has none, the mel matrix stays float


def _dft(audio, p, filters):
    kernels, mel = dft_kernels(
        p["sample_rate"],
        p["frame_length"],
        p["fft_length"],
        p["num_mel_bins"],
        p["lower_edge_hertz"],
        p["upper_edge_hertz"],
    )
    kernels, mel = filter_bank(kernels, filters), filter_bank(mel, filters)  # mel: one filter per band (column)
    y = _strided(audio, kernels, p["frame_step"])
    bins = mel.shape[0]
    re, im = y[..., :bins], y[..., bins:]
    return tf.math.log(tf.matmul(tf.sqrt(re * re + im * im), tf.constant(mel)) + 1e-6)


def _gabor(audio, p, filters):
    kernels = gabor_kernels(
        p["sample_rate"], p["frame_length"], p["num_mel_bins"], p["lower_edge_hertz"], p["upper_edge_hertz"]
    )
    kernels = filter_bank(kernels, filters)
    y = _strided(audio, kernels, p["frame_step"])
    n = p["num_mel_bins"]
    re, im = y[..., :n], y[..., n:]
    return tf.math.log(re * re + im * im + 1e-6)


def _multirate(audio, p, filters):
    lowpass, groups = multirate_plan(
        p["sample_rate"],
        p["frame_length"],
        p["frame_step"],
        p["num_mel_bins"],
        p["lower_edge_hertz"],
        p["upper_edge_hertz"],
    )
    rates = [audio]  # the audio at the full rate, then halved `level` times
    for _ in range(max(g.level for g in groups)):
        rates.append(_halve(rates[-1], lowpass))
    samples = audio.shape[1] if audio.shape[1] is not None else tf.shape(audio)[1]
    frames = num_frames(samples, p["frame_length"], p["frame_step"])  # the full-rate grid
    powers = []
    for g in groups:
        x = tf.expand_dims(rates[g.level][:, g.begin :], -1)
        # the band filters are the bank; the half-band low-pass (18 taps) stays float
        kernels = filter_bank(g.kernels, filters)
        y = tf.nn.conv1d(x, tf.constant(kernels[:, None, :]), stride=p["frame_step"] // 2**g.level, padding="VALID")
        n = g.bands[1] - g.bands[0]
        re, im = y[:, :frames, :n], y[:, :frames, n:]
        powers.append(re * re + im * im)
    return tf.math.log(tf.concat(powers, axis=-1) + 1e-6)


# how the spectrum is computed, by name (see the module docstring): audio [b, samples], LogMel's params,
# its filters' precision → log band energies [b, frames, num_mel_bins]
FRONTENDS = {"stft": _stft, "dft": _dft, "gabor": _gabor, "multirate": _multirate}


def frontend_macs(
    kind,
    samples,
    frame_length=400,
    frame_step=160,
    fft_length=512,
    num_mel_bins=64,
    sample_rate=SAMPLE_RATE,
    lower_edge_hertz=60.0,
    upper_edge_hertz=7800.0,
):
    """Multiply-accumulates of one call of front end `kind` on `samples` samples (what a device's float
    units do; for "stft" a real FFT counted as (N/4)·log2(N) complex multiplies of 4 MACs each).

    Args:
        kind: a key of `FRONTENDS`.
        samples: the audio's length.
        frame_length: samples per frame.
        frame_step: samples between frame starts.
        fft_length: the FFT's size ("stft", "dft").
        num_mel_bins: mel bands.
        sample_rate: Hz.
        lower_edge_hertz: the lowest band's lower edge.
        upper_edge_hertz: the highest band's upper edge.

    Returns:
        The multiply-accumulates, an int (0 when there is no whole frame).

    Raises:
        ConfigError: for an unknown `kind`.
    """
    frames = max(0, num_frames(samples, frame_length, frame_step))
    if kind == "stft":
        fft = fft_length * math.log2(fft_length)  # (N/4) log2 N complex multiplies × 4 real MACs
        return int(frames * (fft + (fft_length // 2 + 1) * num_mel_bins))
    if kind == "dft":
        kernels, mel = dft_kernels(
            sample_rate, frame_length, fft_length, num_mel_bins, lower_edge_hertz, upper_edge_hertz
        )
        return int(frames * (kernels.size + mel.size))
    if kind == "gabor":
        return int(frames * frame_length * 2 * num_mel_bins)
    if kind == "multirate":
        lowpass, groups = multirate_plan(
            sample_rate, frame_length, frame_step, num_mel_bins, lower_edge_hertz, upper_edge_hertz
        )
        # as the graph computes them: halvings `HALVING_CHANNELS` samples a step (their zero taps too), and
        # each group's whole frames before the crop to the full-rate grid
        macs, n, lengths = 0, samples, [samples]
        for _ in range(max(g.level for g in groups)):
            steps = max(0, (n - lowpass.size) // (2 * HALVING_CHANNELS) + 1)
            macs, n = macs + steps * _halving_kernel(lowpass).size, steps * HALVING_CHANNELS
            lengths.append(n)
        for g in groups:
            hop = frame_step // 2**g.level
            macs += max(0, (lengths[g.level] - g.begin - g.kernels.shape[0]) // hop + 1) * g.kernels.size
        return int(macs) if frames else 0
    raise ConfigError(f"unknown front end '{kind}'; choose one of {sorted(FRONTENDS)}")


@tf.keras.utils.register_keras_serializable(package="models")
class LogMel(tf.keras.layers.Layer):
    """Raw audio [batch, samples] → log-mel image [batch, frames, num_mel_bins, 1], the spectrum computed
    by front end `kind` (`FRONTENDS`: "gabor" by default, "stft", "dft", "multirate"); the other arguments
    are the framing and the mel bands, and `filters`, the values of the fixed filter bank ("float16" by
    default: every value rounded to float16, so every converted file stores the bank as float16, half
    the float32 bytes, with nothing rounded at export; "int8": each filter on the int8 grid, a quarter;
    "float32"; `filter_bank`). A config without `kind` (saved before there was a choice) is "stft"; one
    without `filters` is "float32".

    ```python
    LogMel(num_mel_bins=40, filters="float32")  # 64 KB more in every file that holds the gabor bank
    LogMel(num_mel_bins=40, filters="int8")     # 32 KB less
    ```
    """

    def __init__(
        self,
        sample_rate=SAMPLE_RATE,
        frame_length=400,
        frame_step=160,
        fft_length=512,
        num_mel_bins=64,
        lower_edge_hertz=60.0,
        upper_edge_hertz=7800.0,
        kind=DEFAULT_KIND,
        filters=DEFAULT_FILTERS,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in FRONTENDS:
            raise ConfigError(f"unknown front end '{kind}'; choose one of {sorted(FRONTENDS)}")
        if filters not in FILTER_PRECISIONS:
            raise ConfigError(f"unknown front-end filters '{filters}'; choose one of {list(FILTER_PRECISIONS)}")
        if frame_length > fft_length and kind in ("dft", "stft"):
            raise ConfigError(f"front end '{kind}': frame_length {frame_length} is longer than fft_length {fft_length}")
        self.params = dict(
            sample_rate=sample_rate,
            frame_length=frame_length,
            frame_step=frame_step,
            fft_length=fft_length,
            num_mel_bins=num_mel_bins,
            lower_edge_hertz=lower_edge_hertz,
            upper_edge_hertz=upper_edge_hertz,
        )
        self.kind = kind
        self.filters = filters

    @classmethod
    def from_config(cls, config):
        """The layer of a saved config.

        Args:
            config: a `get_config` dict; without "kind" (saved by an earlier version) it is "stft", without
                "filters" "float32".

        Returns:
            A `LogMel`.
        """
        return cls(**{"kind": "stft", "filters": "float32", **config})

    def call(self, audio):
        """Compute the log-mel image.

        Args:
            audio: a float32 tensor [batch, samples].

        Returns:
            A tensor [batch, frames, num_mel_bins, 1].
        """
        # not [..., None]: stock TFLite lacks that StridedSlice
        return tf.expand_dims(FRONTENDS[self.kind](audio, self.params, self.filters), -1)

    def macs(self, samples):
        """Multiply-accumulates of one call on `samples` samples (`frontend_macs`).

        Args:
            samples: the audio's length.

        Returns:
            The multiply-accumulates, an int.
        """
        return frontend_macs(self.kind, samples, **{k: v for k, v in self.params.items()})

    def compute_output_shape(self, input_shape):
        """The output shape for an input of shape `input_shape`.

        Args:
            input_shape: [batch, samples] (samples may be None).

        Returns:
            A `tf.TensorShape` [batch, frames (None for unknown samples), num_mel_bins, 1].
        """
        frames = (
            None
            if input_shape[1] is None
            else num_frames(input_shape[1], self.params["frame_length"], self.params["frame_step"])
        )
        return tf.TensorShape([input_shape[0], frames, self.params["num_mel_bins"], 1])

    def get_config(self):
        """The layer's config.

        Returns:
            Keras' layer config with the framing, the mel bands, "kind" and "filters".
        """
        return {**super().get_config(), **self.params, "kind": self.kind, "filters": self.filters}


@tf.keras.utils.register_keras_serializable(package="models")
class SpecAugment(tf.keras.__internal__.layers.BaseRandomLayer):
    """SpecAugment (Park et al., 2019) on a log-mel image [batch, frames, bins, 1]: `time_masks`
    bands of up to `max_time` of the frames and `freq_masks` bands of up to `max_freq` of the
    bins are set to `fill`, independently per clip, only when `training=True`.

    ```python
    aug = SpecAugment(time_masks=2, max_time=0.1, freq_masks=2, max_freq=0.1, seed=0)
    y = aug(feats, training=True)   # some frame and bin bands of each clip become 0
    aug(feats) is feats             # inference: returns its input, so no op reaches TFLite
    ```
    Placed after the input batch norm, where 0 is the mean of the normalised features. The
    defaults (one band of each, up to 10 %) did best on the bundled demo; two of each cost
    accuracy at 80 epochs.
    Seeded: the same seed gives the same masks in the same order.
    """

    def __init__(self, time_masks=1, max_time=0.1, freq_masks=1, max_freq=0.1, fill=0.0, seed=None, **kwargs):
        # a tf.random.Generator from the seed (not Keras' legacy op seeds): a layer rebuilt with
        # the same seed draws the same masks; under tf.distribute each replica gets its own stream
        super().__init__(seed=seed, rng_type="stateful", **kwargs)
        for n, v in (("time_masks", time_masks), ("freq_masks", freq_masks)):
            if int(v) != v or v < 0:
                raise ConfigError(f"SpecAugment: {n} must be a whole number >= 0, got {v}")
        for n, v in (("max_time", max_time), ("max_freq", max_freq)):
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"SpecAugment: {n} is a fraction of the axis, in [0, 1], got {v}")
        self.params = dict(
            time_masks=int(time_masks),
            max_time=float(max_time),
            freq_masks=int(freq_masks),
            max_freq=float(max_freq),
            fill=float(fill),
            seed=seed,
        )

    def _bands(self, batch, size, count, fraction):
        """[batch, size] bool: `count` random bands of width 0..fraction*size per row."""
        size_f = tf.cast(size, tf.float32)
        max_w = tf.floor(fraction * size_f)
        positions = tf.range(size, dtype=tf.float32)[None, :]
        masked = tf.zeros([batch, size], tf.bool)
        for _ in range(count):
            u = self._random_generator.random_uniform([batch, 2])
            width = tf.floor(u[:, :1] * (max_w + 1.0))
            start = tf.floor(u[:, 1:] * (size_f - width + 1.0))
            masked = masked | ((positions >= start) & (positions < start + width))
        return masked

    def _mask(self, x):
        shape = tf.shape(x)
        p = self.params
        t = self._bands(shape[0], shape[1], p["time_masks"], p["max_time"])
        f = self._bands(shape[0], shape[2], p["freq_masks"], p["max_freq"])
        masked = (t[:, :, None] | f[:, None, :])[..., None]
        return tf.where(masked, tf.cast(p["fill"], x.dtype), x)

    def call(self, x, training=None):
        """Mask `x` when training.

        Args:
            x: a log-mel image [batch, frames, bins, 1].
            training: a bool or a boolean tensor; None: Keras' learning phase.

        Returns:
            `x` with its masked bands set to `fill` when training, else `x` unchanged.
        """
        if training is None:
            training = tf.keras.backend.learning_phase()
        if isinstance(training, bool) or isinstance(training, int):
            return self._mask(x) if training else x
        return tf.cond(tf.cast(training, tf.bool), lambda: self._mask(x), lambda: tf.identity(x))

    def compute_output_shape(self, input_shape):
        """The output shape: the input's.

        Args:
            input_shape: the input's shape.

        Returns:
            The same shape as a `tf.TensorShape`.
        """
        return tf.TensorShape(input_shape)

    def get_config(self):
        """The layer's config.

        Returns:
            Keras' layer config with the mask settings and the seed.
        """
        return {**super().get_config(), **self.params}
