"""models.frontend: the log-mel layer and SpecAugment."""

import numpy as np
import pytest
import tensorflow as tf

from export import convert, flatbuffer, weights
from helpers import CLIP
from models import students
from models.errors import ConfigError
from models.frontend import FRONTENDS, LogMel, SpecAugment, dft_kernels, gabor_kernels, multirate_plan


def test_logmel_layer_round_trips_config():
    layer = LogMel(num_mel_bins=40, name="lm")
    clone = LogMel.from_config(layer.get_config())
    assert clone.get_config()["num_mel_bins"] == 40
    assert clone(tf.zeros([1, CLIP])).shape == (1, 1 + (CLIP - 400) // 160, 40, 1)


def test_spec_augment_masks_only_when_training_and_is_seeded():
    x = tf.random.stateless_normal([4, 60, 40, 1], seed=[1, 2]) + 3.0
    layer = SpecAugment(time_masks=2, max_time=0.2, freq_masks=2, max_freq=0.2, seed=3)
    assert layer(x) is x and layer(x, training=False) is x
    y = layer(x, training=True).numpy()
    masked = y == 0.0
    assert 0 < masked.mean() < 0.6
    # masks are whole frame rows and bin columns
    rows, cols = masked[..., 0].all(axis=2), masked[..., 0].all(axis=1)
    assert np.array_equal(masked[..., 0], rows[:, :, None] | cols[:, None, :])
    np.testing.assert_array_equal(y[~masked], x.numpy()[~masked])
    again = SpecAugment.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    np.testing.assert_array_equal(again(x, training=True).numpy(), y)  # same seed, same masks
    with pytest.raises(ValueError, match="max_time"):
        SpecAugment(max_time=2.0)


@pytest.mark.slow
def test_spec_augment_vanishes_from_the_converted_model():
    with_aug = students.build(
        "quicknet", num_classes=3, embedding_dim=8, exits=1, clip_samples=CLIP, width=8, spec_augment=True
    )
    plain = students.build("quicknet", num_classes=3, embedding_dim=8, exits=1, clip_samples=CLIP, width=8)
    assert with_aug.get_layer("spec_augment")
    a, b = (flatbuffer.inspect(convert.to_lce(mm))["op_counts"] for mm in (with_aug, plain))
    assert a == b


def test_every_front_end_round_trips_its_kind_and_an_old_config_means_stft():
    for kind in FRONTENDS:
        layer = LogMel(num_mel_bins=40, kind=kind)
        assert LogMel.from_config(layer.get_config()).kind == kind
    old = {k: v for k, v in LogMel(num_mel_bins=40).get_config().items() if k not in ("kind", "filters")}
    assert LogMel.from_config(old).kind == "stft"  # saved before there was a choice
    assert LogMel.from_config(old).filters == "float32"  # saved before the rounded filter banks
    assert LogMel(num_mel_bins=40).filters == "float16"  # the default since; an old config stays float32
    assert LogMel.from_config(LogMel(num_mel_bins=40, filters="int8").get_config()).filters == "int8"
    with pytest.raises(ConfigError, match="unknown front-end filters 'int4'"):
        LogMel(filters="int4")
    with pytest.raises(ConfigError, match="unknown front end 'fft'"):
        LogMel(kind="fft")
    with pytest.raises(ConfigError, match="longer than fft_length"):
        LogMel(kind="dft", frame_length=400, fft_length=256)


@pytest.mark.parametrize("frame_length,fft_length", [(400, 512), (256, 256)])
def test_dft_front_end_computes_the_stft_features_with_one_conv_and_no_fft_op(frame_length, fft_length):
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (2, CLIP)).astype(np.float32)
    args = dict(num_mel_bins=40, frame_length=frame_length, fft_length=fft_length, filters="float32")
    want = LogMel(kind="stft", **args)(x).numpy()
    got = LogMel(kind="dft", **args)(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
    ops = {}
    for kind in ("stft", "dft"):
        audio = tf.keras.Input((CLIP,))
        ops[kind] = flatbuffer.inspect(convert.to_portable(tf.keras.Model(audio, LogMel(kind=kind, **args)(audio))))
    assert "RFFT2D" in ops["stft"]["op_counts"] and "RFFT2D" not in ops["dft"]["op_counts"]
    assert ops["dft"]["op_counts"].get("CONV_2D") == 1
    # only the bins that carry mel weight: fewer kernels than the FFT's bins, real and imaginary
    kernels, mel = dft_kernels(frame_length=frame_length, fft_length=fft_length, num_mel_bins=40)
    assert kernels.shape == (frame_length, 2 * mel.shape[0]) and mel.shape[0] < fft_length // 2 + 1
    assert ops["dft"]["total_macs"] == LogMel(kind="dft", **args).macs(CLIP)


def test_gabor_front_end_puts_a_tone_in_its_mel_band():
    layer = LogMel(kind="gabor", num_mel_bins=40)
    sr = 16000
    t = np.arange(CLIP) / sr
    bands = []
    for f in (300.0, 1000.0, 4000.0):
        y = layer(np.sin(2 * np.pi * f * t)[None].astype(np.float32)).numpy()[0, :, :, 0]
        bands.append(int(np.argmax(y.mean(axis=0))))
    assert bands[0] < bands[1] < bands[2]
    kernels = gabor_kernels(num_mel_bins=40)
    assert kernels.shape == (400, 80)
    assert layer.macs(CLIP) == (1 + (CLIP - 400) // 160) * 400 * 80


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dft", "gabor", "multirate"])
def test_conv_front_ends_run_in_lce_and_resize_for_streaming(kind):
    """The converted front end matches Keras in LCE's interpreter, and the stock interpreter resizes
    its input to a block of any length (the streaming front end)."""
    from export.interpreter import LceModel

    x = np.random.default_rng(1).uniform(-0.3, 0.3, (1, CLIP)).astype(np.float32)
    audio = tf.keras.Input((CLIP,))
    model = tf.keras.Model(audio, LogMel(kind=kind, num_mel_bins=40)(audio))
    np.testing.assert_allclose(LceModel(convert.to_lce(model)).run(x)[0], model(x).numpy(), atol=1e-4)
    block = tf.keras.Input((None,))
    streaming = tf.keras.Model(block, LogMel(kind=kind, num_mel_bins=40)(block))
    it = tf.lite.Interpreter(model_content=convert.to_portable(streaming))
    index = it.get_input_details()[0]["index"]
    it.resize_tensor_input(index, [1, 1200])
    it.allocate_tensors()
    it.set_tensor(index, x[:, :1200])
    it.invoke()
    frames = it.get_tensor(it.get_output_details()[0]["index"])
    assert frames.shape == (1, 1 + (1200 - 400) // 160, 40, 1)
    np.testing.assert_allclose(frames, model(x).numpy()[:, : frames.shape[1]], atol=1e-4)


def test_multirate_front_end_computes_gabor_features_at_lower_rates_on_the_same_frame_grid():
    rng = np.random.default_rng(2)
    gabor, multirate = LogMel(kind="gabor", num_mel_bins=40), LogMel(kind="multirate", num_mel_bins=40)
    # the frames of the full-rate grid, whatever the length (the streaming front end resizes its input)
    for n in (400, 401, 559, 560, 1201, CLIP + 37):
        x = rng.uniform(-0.3, 0.3, (1, n)).astype(np.float32)
        assert multirate(x).shape == gabor(x).shape == (1, 1 + (n - 400) // 160, 40, 1)
    # speech-like audio: tones in every octave over a burst of noise; the same features to a few hundredths
    t = np.arange(CLIP) / 16000
    x = 0.1 * rng.standard_normal(CLIP) * np.exp(-(((t - t.mean()) / 0.1) ** 2))
    x = (x + sum(0.05 * np.sin(2 * np.pi * f * t) for f in (150, 440, 1200, 3100, 6000)))[None].astype(np.float32)
    a, b = gabor(x).numpy(), multirate(x).numpy()
    assert np.abs(a - b).mean() < 0.05 and np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.999
    # the low bands at a quarter of the rate, the high bands at the full rate on short windows
    lowpass, groups = multirate_plan(num_mel_bins=40)
    assert [g.level for g in groups] == [2, 1, 0] and groups[0].bands[0] == 0 and groups[-1].bands[1] == 40
    assert all(a.bands[1] == b.bands[0] for a, b in zip(groups, groups[1:]))
    assert lowpass.sum() == pytest.approx(1.0, abs=1e-5)
    assert multirate.macs(CLIP) < 0.6 * gabor.macs(CLIP)
    audio = tf.keras.Input((CLIP,))
    info = flatbuffer.inspect(convert.to_lce(tf.keras.Model(audio, multirate(audio))))
    assert info["total_macs"] == multirate.macs(CLIP) and info["op_counts"]["CONV_2D"] == 5  # 2 halvings, 3 groups
    # a hop that 4 does not divide halves the rate once at most; one that 2 does not divide, never
    assert {g.level for g in multirate_plan(num_mel_bins=40, frame_step=162)[1]} == {0, 1}
    lowpass, groups = multirate_plan(num_mel_bins=40, frame_step=161)
    assert lowpass is None and [g.level for g in groups] == [0]
    # every band low enough for a lower rate: one group, decimated, still the full-rate grid
    lowpass, groups = multirate_plan(num_mel_bins=20, upper_edge_hertz=1500.0)
    assert lowpass is not None and [g.level for g in groups] == [2]
    low = LogMel(kind="multirate", num_mel_bins=20, upper_edge_hertz=1500.0)
    assert low(x).shape == (1, 1 + (CLIP - 400) // 160, 20, 1) and low.macs(CLIP) > 0
    odd = LogMel(kind="multirate", num_mel_bins=40, frame_step=161)
    assert odd(x).shape == LogMel(kind="gabor", num_mel_bins=40, frame_step=161)(x).shape


def test_framing_turns_milliseconds_into_samples_and_the_next_power_of_two():
    from models.frontend import framing

    assert framing(25, 10) == {"frame_length": 400, "fft_length": 512, "frame_step": 160}
    assert framing(16, 20) == {"frame_length": 256, "fft_length": 256, "frame_step": 320}
    assert framing(25, 10, sample_rate=8000)["frame_length"] == 200


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float16", "int8"])
@pytest.mark.parametrize("kind", ["dft", "gabor", "multirate"])
def test_rounded_filters_keep_the_features_and_are_stored_so_with_nothing_rounded_at_export(kind, precision):
    """With filters="float16" or "int8" the bank's values are on that grid: the features stay those of
    the float filters (to a correlation of 0.9999), and a converted file stores the bank in that
    precision when only exact weights may be (the classifier files' policy): a half or a quarter of its
    bytes, outputs bit for bit the same, in LCE's interpreter and in stock TFLite with XNNPACK."""
    from export.interpreter import LceModel

    x = np.random.default_rng(3).uniform(-0.3, 0.3, (2, CLIP)).astype(np.float32)
    audio = tf.keras.Input((CLIP,))
    float_bank = tf.keras.Model(audio, LogMel(kind=kind, num_mel_bins=40, filters="float32")(audio))
    rounded = tf.keras.Model(audio, LogMel(kind=kind, num_mel_bins=40, filters=precision)(audio))
    a, b = float_bank(x).numpy(), rounded(x).numpy()
    assert not np.array_equal(a, b) and np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9999
    saved = {"float16": 2, "int8": 3}[precision]  # bytes a weight: 4 to 2, or 4 to 1
    for model, stored in ((float_bank, False), (rounded, True)):
        fb = convert.to_lce(model)
        exact = weights.compact(fb, lossy_ops=())
        assert ("DEQUANTIZE" in flatbuffer.inspect(exact)["op_counts"]) == stored
        assert (f"DEQUANTIZE/{precision.upper()}" in flatbuffer.inspect(exact)["constant_bytes"]) == stored
        if stored:
            if kind == "multirate":  # the band filters (the half-band low-pass is small and stays float)
                bank = sum(g.kernels.size for g in multirate_plan(num_mel_bins=40)[1] if g.kernels.size >= 1024)
            else:
                bank = (gabor_kernels if kind == "gabor" else lambda **a: dft_kernels(**a)[0])(num_mel_bins=40).size
            assert len(fb) - len(exact) > 0.9 * saved * bank
            np.testing.assert_array_equal(LceModel(exact).run(x[:1])[0], LceModel(fb).run(x[:1])[0])
            np.testing.assert_allclose(LceModel(exact).run(x[:1])[0], model(x[:1]).numpy(), atol=1e-4)
            portable = convert.to_portable(model)
            runs = [
                tf.lite.Interpreter(model_content=f, num_threads=1).get_signature_runner()
                for f in (portable, weights.compact(portable, lossy_ops=()))
            ]
            want, got = (next(iter(r(**{model.input_names[0]: x[:1]}).values())) for r in runs)
            np.testing.assert_array_equal(got, want)
