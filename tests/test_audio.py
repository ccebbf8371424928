import numpy as np
import pytest

from pipeline import audio
from conftest import tone_clip, write_wav


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


@pytest.mark.parametrize("content,reason", [(b"", "empty"), (b"this is not audio at all" * 20, "cannot decode")])
def test_bad_files_raise_audio_error_naming_file(tmp_path, content, reason):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(audio.AudioError) as e:
        audio.load(p)
    assert str(p) in str(e.value) and reason in e.value.reason


def test_all_zero_audio_is_rejected(tmp_path):
    p = write_wav(tmp_path / "z.wav", np.zeros(4000, np.float32))
    with pytest.raises(audio.AudioError, match="all zeros"):
        audio.load(p)


def test_fit_length_pads_and_centre_crops():
    x = np.arange(10, dtype=np.float32) + 1
    assert list(audio.fit_length(x, 4)) == [4, 5, 6, 7]
    y = audio.fit_length(x, 14)
    assert len(y) == 14 and y[0] == 0 and y[2] == 1 and y[-1] == 0
