import os
import struct

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_io as tfio

from pipeline import audio
from helpers import fails_instead_of_hanging_on, tone_clip, write_wav


def test_decodes_wav_written_by_test(tmp_path):
    x = tone_clip(440.0, seconds=0.5)
    p = write_wav(tmp_path / "a.wav", x)
    y = audio.load(p)
    assert y.dtype == np.float32 and y.shape == (8000,)
    assert np.max(np.abs(y - x)) < 1e-3


def test_resamples_and_mixes_to_mono(tmp_path):
    x = tone_clip(440.0, seconds=0.5, sr=44100)
    p = write_wav(tmp_path / "b.wav", x, sr=44100, channels=2)
    y = audio.load(p)
    assert abs(len(y) - 8000) <= 2
    spectrum = np.abs(np.fft.rfft(y))
    peak_hz = np.argmax(spectrum) * 16000 / len(y)
    assert abs(peak_hz - 440) < 30


def _peak_hz(y):
    return np.argmax(np.abs(np.fft.rfft(y))) * 16000 / len(y)


def encode(path, x, rate, channels=1):
    """flac / ogg (vorbis) / mp3 written with tensorflow-io's own encoders: no system packages needed."""
    pcm = np.repeat(x[:, None], channels, axis=1)
    ext = os.path.splitext(str(path))[1]
    if ext == ".flac":
        data = tfio.audio.encode_flac(tf.constant((pcm * 32767).astype(np.int16)), rate=rate)
    elif ext == ".ogg":
        data = tfio.audio.encode_vorbis(tf.constant(pcm), rate=rate)
    else:
        data = tfio.audio.encode_mp3(tf.constant(pcm), rate=rate)
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.numpy())
    return str(path)


@pytest.mark.parametrize(
    "ext,rate,channels",
    [
        (".flac", 8000, 1),
        (".flac", 44100, 2),
        (".ogg", 22050, 2),
        (".ogg", 48000, 1),
        (".mp3", 44100, 1),
        (".mp3", 24000, 2),
    ],
)
def test_flac_ogg_mp3_any_rate_and_channels_to_16k_mono(tmp_path, ext, rate, channels):
    x = tone_clip(700.0, seconds=0.5, sr=rate)
    y = audio.load(encode(tmp_path / f"c{ext}", x, rate, channels))
    assert y.dtype == np.float32 and y.ndim == 1
    # mp3 frames add encoder/decoder padding; the others keep the length
    assert 7990 <= len(y) <= (10000 if ext == ".mp3" else 8010)
    assert np.max(np.abs(y)) <= 1.0 and 0.2 < np.max(np.abs(y)) < 0.6
    assert abs(_peak_hz(y) - 700) < 40


@pytest.mark.parametrize("content,reason", [(b"", "empty"), (b"this is not audio at all" * 20, "cannot decode")])
def test_bad_files_raise_audio_error_naming_file(tmp_path, content, reason):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(audio.AudioError) as e:
        audio.load(p)
    assert str(p) in str(e.value) and reason in e.value.reason


def test_decoder_errors_are_short_and_clean(tmp_path):
    good = encode(tmp_path / "g.ogg", tone_clip(300, sr=48000), 48000)
    data = open(good, "rb").read()
    (tmp_path / "t.ogg").write_bytes(data[:100])  # truncated in its headers
    (tmp_path / "r.mp3").write_bytes(os.urandom(3000))  # not audio at all
    for name in ("t.ogg", "r.mp3"):
        with pytest.raises(audio.AudioError) as e:
            audio.load(tmp_path / name)
        assert e.value.reason.startswith("cannot decode audio (")
        assert "function_node" not in e.value.reason and "[Op:" not in e.value.reason


def test_all_zero_audio_is_rejected_unless_silence_is_the_content(tmp_path):
    p = write_wav(tmp_path / "z.wav", np.zeros(4000, np.float32))
    with pytest.raises(audio.AudioError, match="all zeros"):
        audio.load(p)
    assert not np.any(audio.load(p, allow_silent=True))


def test_fit_length_pads_and_centre_crops():
    x = np.arange(10, dtype=np.float32) + 1
    assert list(audio.fit_length(x, 4)) == [4, 5, 6, 7]
    y = audio.fit_length(x, 14)
    assert len(y) == 14 and y[0] == 0 and y[2] == 1 and y[-1] == 0


# ---- WAV variants written byte by byte: every one a spec-conforming file some recorder writes ----

KSDATAFORMAT_PCM = struct.pack("<IHH8s", 1, 0, 0x10, bytes.fromhex("800000aa00389b71"))  # sub-format GUID


def quantise(x, bits):
    """Integer PCM samples for float `x` in [-1, 1] (round to nearest, full-scale 2^(bits-1))."""
    full = 2 ** (bits - 1)
    return np.clip(np.round(x.astype(np.float64) * full), -full, full - 1).astype(np.int64)


def pcm_bytes(x, bits, encoding="int"):
    """Little-endian sample bytes of `x` [frames] or [frames, channels], interleaved."""
    if encoding == "float":
        return np.asarray(x, "<f4").tobytes()
    q = quantise(x, bits).reshape(-1)
    if bits == 8:
        return (q + 128).astype(np.uint8).tobytes()  # 8-bit WAV is unsigned, silence at 128
    width = bits // 8
    return b"".join(struct.pack("<i", int(v))[:width] for v in q) if width == 3 else q.astype(f"<i{width}").tobytes()


def wav_bytes(data, bits, channels=1, rate=16000, tag=1, extensible=False, data_len=None, riff_len=None, after=b""):
    """A RIFF WAVE file: 'fmt ' then 'data' (odd lengths padded to even, RIFF size counting the pad)
    then the chunks in `after`. `data_len`/`riff_len` override the header fields with 0xFFFFFFFF:
    a streaming writer that cannot seek back to fill them in, and writes no pad byte either."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block, block, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + KSDATAFORMAT_PCM[2:]
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data) if data_len is None else data_len)
        + data
        + b"\0" * (len(data) % 2 * (data_len is None))
        + after
    )
    return b"RIFF" + struct.pack("<I", len(body) if riff_len is None else riff_len) + body


def two_tones(frames, channels, seed=0):
    """Distinct content per channel: the mono mix is checked, not just one channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 16000
    x = np.stack(
        [0.45 * np.sin(2 * np.pi * (330 + 220 * c) * t) + 0.03 * rng.standard_normal(frames) for c in range(channels)],
        axis=1,
    )
    return np.clip(x, -0.99, 0.99).astype(np.float32)


LIST_CHUNK = b"LIST" + struct.pack("<I", 16) + b"INFOISFT" + struct.pack("<I", 4) + b"rec\0"

# name: (bits, channels, frames, encoding, extra wav_bytes arguments); frame counts are odd, so
# 8-bit and 24-bit mono have an odd number of data bytes and a pad byte (tensorflow-io: "Read less
# bytes than requested"), and 32-bit integers are integers (tensorflow-io read them as float)
WAV_VARIANTS = {
    "8bit_unsigned_odd_bytes": (8, 1, 8001, "int", {}),
    "8bit_unsigned_odd_bytes_then_LIST": (8, 1, 4001, "int", {"after": LIST_CHUNK}),
    "16bit_stereo": (16, 2, 8000, "int", {}),
    "24bit_odd_bytes": (24, 1, 8001, "int", {}),
    "24bit_extensible_odd_bytes": (24, 1, 8001, "int", {"extensible": True}),
    "32bit_int_stereo": (32, 2, 8000, "int", {}),
    "32bit_int_extensible": (32, 1, 8000, "int", {"extensible": True}),
    "32bit_float": (32, 1, 8000, "float", {"tag": 3}),
    "32bit_float_stereo_extensible": (32, 2, 8000, "float", {"tag": 3, "extensible": True}),
    # a streaming recorder that never went back to write the lengths (tensorflow-io: "not block aligned")
    "16bit_data_len_ffffffff": (16, 1, 8001, "int", {"data_len": 0xFFFFFFFF, "riff_len": 0xFFFFFFFF}),
    "24bit_data_len_ffffffff_odd": (24, 1, 8001, "int", {"data_len": 0xFFFFFFFF, "riff_len": 0xFFFFFFFF}),
    "8bit_data_len_ffffffff_odd": (8, 1, 8001, "int", {"data_len": 0xFFFFFFFF, "riff_len": 0xFFFFFFFF}),
}


@pytest.mark.parametrize("name", list(WAV_VARIANTS))
def test_wav_variants_decode_to_the_written_waveform(tmp_path, name):
    bits, channels, frames, encoding, extra = WAV_VARIANTS[name]
    x = two_tones(frames, channels, seed=bits)
    p = tmp_path / f"{name}.wav"
    p.write_bytes(wav_bytes(pcm_bytes(x, bits, encoding), bits, channels, **extra))
    y = audio.load(p)
    assert y.dtype == np.float32 and y.shape == (frames,)
    # the mono mix of what was written, at what the format holds: an integer step for PCM, float32 for float
    written = x.astype(np.float64) if encoding == "float" else quantise(x, bits) / 2.0 ** (bits - 1)
    expected = written.mean(axis=1)
    step = 2.0 ** -(bits - 1) if encoding == "int" else 0.0
    assert np.max(np.abs(y - expected)) <= max(step / 4, 1e-6), name
    assert np.max(np.abs(y - x.mean(axis=1))) <= max(step, 1e-6), name  # and the signal before quantising


def test_24bit_wav_at_another_rate_is_resampled(tmp_path):
    frames = 11025  # 0.25 s at 44.1 kHz, odd byte count
    t = np.arange(frames) / 44100
    x = (0.5 * np.sin(2 * np.pi * 1000 * t))[:, None]
    p = tmp_path / "r.wav"
    p.write_bytes(wav_bytes(pcm_bytes(x, 24), 24, 1, rate=44100))
    y = audio.load(p)
    assert abs(len(y) - 4000) <= 2 and 0.45 < np.max(np.abs(y)) <= 0.55
    assert abs(_peak_hz(y) - 1000) < 20


def test_nan_in_float_wav_is_still_rejected(tmp_path):
    x = two_tones(4000, 1)
    x[10, 0] = np.nan
    p = tmp_path / "nan.wav"
    p.write_bytes(wav_bytes(pcm_bytes(x, 32, "float"), 32, tag=3))
    with pytest.raises(audio.AudioError, match="NaN or Inf"):
        audio.load(p)


@pytest.mark.parametrize(
    "tag,extensible,bits,reason",
    [
        (0x0064, False, 4, "WAV with 4-bit G.726 ADPCM, format tag 0x0064, is not supported"),
        (0x00FF, False, 16, "WAV with 16-bit AAC, format tag 0x00FF, is not supported"),
        (0x7777, False, 12, "WAV with an unknown codec (12 bits per sample), format tag 0x7777, is not supported"),
        (
            0x0022,
            True,
            8,
            "WAV (WAVE_FORMAT_EXTENSIBLE) with 8-bit TrueSpeech, sub-format tag 0x0022, is not supported",
        ),
    ],
)
def test_unsupported_wav_codec_is_named_with_its_format_tag(tmp_path, tag, extensible, bits, reason):
    p = tmp_path / "codec.wav"
    p.write_bytes(wav_bytes(os.urandom(2000), bits, 1, tag=tag, extensible=extensible))
    with pytest.raises(audio.AudioError) as e:
        audio.load(p)
    assert e.value.reason == f"cannot decode audio ({reason})"


def test_fifo_is_not_a_regular_file_and_is_never_opened(tmp_path):
    p = tmp_path / "stream.wav"
    os.mkfifo(p)
    with fails_instead_of_hanging_on([p], seconds=20) as opened:
        with pytest.raises(audio.AudioError) as e:
            audio.load(p)
    assert not opened, "audio.load opened the FIFO"
    assert e.value.reason == "not a regular file (a FIFO / named pipe)"
