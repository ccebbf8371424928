"""export.stream and export.runtime.StreamingRuntime: the live path (front end once per new frame,
stage 1 from log-mel frames) decides as the clip-level runtime does, on the real LCE interpreter."""

import json

import numpy as np
import pytest
import tensorflow as tf

from export import runtime, stream
from export.layout import Layout
from helpers import read_bytes as _read
from helpers import tone_clip
from models.errors import ConfigError


@pytest.mark.slow
def test_frames_computed_a_block_at_a_time_equal_the_models_front_end(exported):
    m, out, files, x = exported
    settings = stream.read_settings(Layout(out))
    assert settings["clip_samples"] == x.shape[1] and settings["frame_step"] == 160
    fe = stream.FrameFrontEnd(_read(files.stream[0]), settings["frame_length"], settings["frame_step"])
    want = tf.keras.Model(m.inputs, m.get_layer("log_mel").output)(x[:2]).numpy()
    got = np.stack([fe.frames(c) for c in x[:2]])
    assert got.shape == want.shape and want.shape[1] == settings["frames"]
    np.testing.assert_allclose(got, want, atol=1e-4)
    # in hops of 5 frames (each block overlaps the last by frame_length - frame_step samples): the same frames
    hops = [fe.frames(x[0, i * 5 * 160 : i * 5 * 160 + fe.block_samples(5)]) for i in range(settings["frames"] // 5)]
    np.testing.assert_allclose(np.concatenate(hops), want[0, : len(hops) * 5], atol=1e-4)
    with pytest.raises(ValueError, match="holds no 400-sample frame"):
        fe.frames(x[0, :100])


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [0.0, 0.4, 1.0])
def test_a_wav_fed_in_hops_gets_the_clip_level_runtimes_decisions(exported, threshold):
    _, out, _, x = exported
    clip = x.shape[1]
    audio = np.concatenate(
        [tone_clip(f, seconds=clip / 16000 / 2, seed=i) for i, f in enumerate([300, 900, 2500, 300, 2500, 900, 300])]
    )
    hop = clip // 2 // 160 * 160  # whole front-end frames
    want = runtime.EarlyExitRuntime(out, threshold=threshold).classify_long(audio, hop=hop)
    live = runtime.StreamingRuntime(out, threshold=threshold, hop_samples=hop)
    got = []
    for i in range(0, len(audio), 777):  # chunks that are no multiple of the hop or the frame step
        got += live.push(audio[i : i + 777])
    aligned = [(s, r) for s, r in want if s % hop == 0]  # classify_long adds a tail window
    assert [s for s, _ in got] == [s for s, _ in aligned] and len(got) >= 5
    for (_, a), (_, b) in zip(aligned, got):
        assert (a["exit"], a["label"]) == (b["exit"], b["label"])
        np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-4)
        assert b["frontend_ms"] > 0 and b["latency_ms"] > 0
    assert {r["exit"] for _, r in got} <= {1, 2, 3}


@pytest.mark.slow
def test_the_hop_must_be_whole_frames(exported):
    _, out, _, _ = exported
    with pytest.raises(ConfigError, match="whole number of front-end frames"):
        runtime.StreamingRuntime(out, hop_samples=1000)


def test_unreadable_stream_settings_are_named(tmp_path):
    layout = Layout(tmp_path)
    (tmp_path / "stream").mkdir()
    (tmp_path / "stream" / "stream.json").write_text(json.dumps({"frame_length": 400}))
    with pytest.raises(Exception, match="stream.json: not a stream settings file"):
        stream.read_settings(layout)
