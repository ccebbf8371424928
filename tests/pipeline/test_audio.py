import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_io as tfio

from pipeline import audio
from helpers import tone_clip, write_wav


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


@pytest.mark.parametrize("ext,rate,channels", [(".flac", 8000, 1), (".flac", 44100, 2), (".ogg", 22050, 2),
                                               (".ogg", 48000, 1), (".mp3", 44100, 1), (".mp3", 24000, 2)])
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
    (tmp_path / "t.ogg").write_bytes(data[:100])                      # truncated in its headers
    (tmp_path / "r.mp3").write_bytes(os.urandom(3000))                 # not audio at all
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
