import numpy as np
import tensorflow as tf

from pipeline import augment
from helpers import tone_clip


def _apply(fn, clips):
    ds = tf.data.Dataset.from_tensor_slices((clips, np.zeros((len(clips), 4), np.float32))).map(fn)
    return np.stack([a.numpy() for a, t in ds])


def test_seeded_and_bounded():
    clips = np.stack([tone_clip(500, seed=i) for i in range(6)])
    a = _apply(augment.waveform(seed=1), clips)
    b = _apply(augment.waveform(seed=1), clips)
    c = _apply(augment.waveform(seed=2), clips)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3 and np.abs(a - clips).max() > 1e-3
    assert a.shape == clips.shape and np.abs(a).max() <= 1.0
    # gain within ±6 dB and shift within 0.1 s: the tone's level and pitch survive
    rms = np.sqrt(np.mean(a**2, 1)) / np.sqrt(np.mean(clips**2, 1))
    assert np.all((rms > 0.45) & (rms < 2.1))


def test_background_noise_recordings_are_mixed_in():
    clip = np.random.default_rng(0).normal(0, 0.01, (1, 8000)).astype(np.float32)  # broadband, quiet
    hum = np.sin(2 * np.pi * 60 * np.arange(16000) / 16000).astype(np.float32) * 0.5
    fn = augment.waveform(shift_seconds=0, gain_db=0, noise=[hum], noise_prob=1.0, noise_snr_db=0.0, seed=0)
    out = _apply(fn, clip)[0]
    spectrum = np.abs(np.fft.rfft(out - out.mean()))
    assert abs(np.argmax(spectrum[1:]) + 1 - 30) <= 2  # 60 Hz at 2 Hz per bin: the hum, not white noise
    fn = augment.waveform(shift_seconds=0, gain_db=0, noise=None, noise_prob=1.0, noise_snr_db=0.0, seed=0)
    white = np.abs(np.fft.rfft(_apply(fn, clip)[0]))
    assert white[25:35].max() < 0.2 * spectrum[25:35].max()


def test_noise_off_shift_and_gain_off_is_identity():
    clips = np.stack([tone_clip(300, seed=0)])
    fn = augment.waveform(shift_seconds=0, gain_db=0, noise_snr_db=None)
    np.testing.assert_allclose(_apply(fn, clips), clips)
