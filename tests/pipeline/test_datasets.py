import os

import numpy as np

from pipeline import datasets
from helpers import tone_clip, write_wav


def test_train_test_layout(task_dir):
    ds = datasets.scan(task_dir)
    assert ds.labels == ["high", "low", "mid"]
    assert len(ds.split("train")) == 18 and len(ds.split("test")) == 6
    x, y, paths, skipped = datasets.load(ds.split("test"), 4000)
    assert x.shape == (6, 4000) and not skipped and sorted(set(y)) == [0, 1, 2]
    assert not ds.warnings and not ds.noise


def test_flat_layout_splits_by_speaker_and_skips_bad_files(tmp_path):
    for label in ("yes", "no"):
        for spk in ("aa", "bb", "cc", "dd", "ee"):
            for n in range(2):
                write_wav(tmp_path / label / f"{spk}_nohash_{n}.wav", tone_clip(500, seed=n))
    os.makedirs(tmp_path / "_background_noise_")
    write_wav(tmp_path / "_background_noise_" / "noise.wav", tone_clip(100))
    (tmp_path / "yes" / "broken.wav").write_bytes(b"RIFF....garbage")
    ds = datasets.scan(tmp_path, seed=1)
    assert ds.labels == ["no", "yes"]
    train_spk = {os.path.basename(c.path).split("_")[0] for c in ds.split("train")}
    test_spk = {os.path.basename(c.path).split("_")[0] for c in ds.split("test")}
    assert test_spk and not (train_spk & test_spk - {"broken.wav"})
    _, _, _, skipped = datasets.load(ds.clips, 8000)
    assert [s["path"] for s in skipped] == [str(tmp_path / "yes" / "broken.wav")]
    # the same seed gives the same split, another seed (usually) another one
    assert [c.split for c in datasets.scan(tmp_path, seed=1).clips] == [c.split for c in ds.clips]


def test_speech_commands_lists_and_background_noise(tmp_path):
    names = [f"{spk}_nohash_{n}.wav" for spk in ("a1", "b2", "c3", "d4") for n in range(2)]
    for label, f in (("yes", 400), ("no", 1200)):
        for i, name in enumerate(names):
            write_wav(tmp_path / label / name, tone_clip(f, seed=i))
    (tmp_path / "testing_list.txt").write_text("yes/a1_nohash_0.wav\nno/a1_nohash_0.wav\nno/a1_nohash_1.wav\n")
    (tmp_path / "validation_list.txt").write_text("yes/b2_nohash_0.wav\nno/b2_nohash_1.wav\n")
    (tmp_path / "LICENSE").write_text("not a clip; top-level files are not looked at")
    write_wav(tmp_path / "_background_noise_" / "white.wav", np.random.default_rng(0).normal(0, .1, 32000))
    ds = datasets.scan(tmp_path)
    assert ds.labels == ["no", "yes"]  # _background_noise_ is not a label
    rel = lambda split: sorted(os.path.relpath(c.path, tmp_path) for c in ds.split(split))  # noqa: E731
    assert rel("test") == ["no/a1_nohash_0.wav", "no/a1_nohash_1.wav", "yes/a1_nohash_0.wav"]
    assert rel("validation") == ["no/b2_nohash_1.wav", "yes/b2_nohash_0.wav"]
    assert len(ds.split("train")) == 16 - 5
    assert ds.noise == [str(tmp_path / "_background_noise_" / "white.wav")] and not ds.rejected
    noise, skipped = datasets.load_noise(ds.noise)
    assert not skipped and len(noise) == 1 and noise[0].shape == (32000,)


def test_non_audio_files_single_clip_labels_and_silence(tmp_path):
    for i in range(4):
        write_wav(tmp_path / "word" / f"s{i}_nohash_0.wav", tone_clip(600, seed=i))
    write_wav(tmp_path / "rare" / "only_nohash_0.wav", tone_clip(900))
    write_wav(tmp_path / "_silence_" / "z_nohash_0.wav", np.zeros(8000, np.float32))
    write_wav(tmp_path / "_silence_" / "y_nohash_0.wav", np.zeros(8000, np.float32))
    (tmp_path / "word" / "notes.txt").write_text("hello")
    (tmp_path / "word" / ".DS_Store").write_bytes(b"\0\0")
    write_wav(tmp_path / "word" / "quiet_nohash_0.wav", np.zeros(8000, np.float32))
    ds = datasets.scan(tmp_path, seed=0)
    assert ds.labels == ["_silence_", "rare", "word"]
    assert [r["path"] for r in ds.rejected] == [str(tmp_path / "word" / "notes.txt")]
    assert "not an audio file" in ds.rejected[0]["reason"]
    assert [c.split for c in ds.clips if c.label == 1] == ["train"]  # a label's only clip is kept for training
    assert any("'rare' has 1 clip" in w for w in ds.warnings)
    x, y, paths, skipped = datasets.load(ds.clips, 8000)
    # digital silence is content under _silence_, a broken recording elsewhere
    assert [s["path"] for s in skipped] == [str(tmp_path / "word" / "quiet_nohash_0.wav")]
    assert "all zeros" in skipped[0]["reason"] and sorted(set(y)) == [0, 1, 2]


def test_parallel_decoding_keeps_order_and_cuts_unlabeled(tmp_path):
    for i in range(12):
        write_wav(tmp_path / "lab" / "a" / f"{i:02d}.wav", tone_clip(200 + 100 * i, seed=i))
    ds = datasets.scan(tmp_path / "lab")
    x, y, paths, skipped = datasets.load(ds.clips, 8000, workers=4)
    assert paths == sorted(paths) and len(paths) == 12 and not skipped
    for i, p in enumerate(paths):  # each row is its own file's audio
        k = int(os.path.basename(p)[:2])
        assert np.max(np.abs(x[i] - tone_clip(200 + 100 * k, seed=k))) < 1e-3
    write_wav(tmp_path / "unl" / "deep" / "long.wav", tone_clip(300, seconds=2.3))
    (tmp_path / "unl" / "readme.md").write_text("x")
    ux, ids, upaths, skipped = datasets.load_unlabeled(tmp_path / "unl", 8000, workers=2)
    assert ux.shape == (5, 8000) and ids[-1].endswith("long.wav#4")  # 2.3 s → 5 half-second clips
    assert [s["path"] for s in skipped] == [str(tmp_path / "unl" / "readme.md")]


def test_parallel_decoding_of_mixed_sample_formats_is_safe(tmp_path):
    """tensorflow-io's AudioIOTensor is not thread safe (tensorflow/io#1764); without the
    decode lock, int16 and float WAVs decoded at once abort the whole process."""
    import struct
    for i in range(10):
        x = tone_clip(300 + 50 * i, seconds=0.25, seed=i)
        write_wav(tmp_path / "a" / f"int16_{i}.wav", x)
        data = x.astype("<f4").tobytes()
        (tmp_path / "a" / f"float_{i}.wav").write_bytes(
            b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 3, 1, 16000,
                                                                                    64000, 4, 32)
            + b"data" + struct.pack("<I", len(data)) + data)
    clips = datasets.scan(tmp_path).clips * 20
    x, _, _, skipped = datasets.load(clips, 4000, workers=8)
    assert len(x) == 400 and not skipped
