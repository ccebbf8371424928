import os

import numpy as np

from pipeline import datasets
from helpers import fails_instead_of_hanging_on, tone_clip, write_wav


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
    write_wav(tmp_path / "_background_noise_" / "white.wav", np.random.default_rng(0).normal(0, 0.1, 32000))
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
            b"RIFF"
            + struct.pack("<I", 36 + len(data))
            + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 3, 1, 16000, 64000, 4, 32)
            + b"data"
            + struct.pack("<I", len(data))
            + data
        )
    clips = datasets.scan(tmp_path).clips * 20
    x, _, _, skipped = datasets.load(clips, 4000, workers=8)
    assert len(x) == 400 and not skipped


def test_fifo_in_a_label_folder_is_listed_as_not_a_regular_file_and_never_opened(tmp_path):
    for label in ("yes", "no"):
        for i in range(3):
            write_wav(tmp_path / label / f"s{i}_nohash_0.wav", tone_clip(400 + 300 * (label == "no"), seed=i))
    fifo_audio, fifo_other = tmp_path / "yes" / "live_nohash_0.wav", tmp_path / "no" / "stream"
    os.mkfifo(fifo_audio)
    os.mkfifo(fifo_other)
    with fails_instead_of_hanging_on([fifo_audio, fifo_other]) as released:
        ds = datasets.scan(tmp_path)
        _, _, paths, skipped = datasets.load(ds.clips, 8000, workers=2)
    assert not released, f"opened (and blocked on) {released}"
    fifo_reason = "not a regular file (a FIFO / named pipe)"
    assert ds.rejected == [{"path": str(fifo_other), "reason": fifo_reason}]
    assert skipped == [{"path": str(fifo_audio), "reason": fifo_reason}]
    assert len(paths) == 6


def test_symlinked_folders_are_followed_under_unlabeled_and_label_folders(tmp_path):
    store = tmp_path / "store"  # the audio lives here; the data folders only link to it
    for i in range(2):
        write_wav(store / "batch1" / f"a{i}.wav", tone_clip(300 + 100 * i, seconds=0.5, seed=i))
        write_wav(store / "batch2" / "deeper" / f"b{i}.wav", tone_clip(800 + 100 * i, seconds=0.5, seed=i))
    unl = tmp_path / "unl"
    os.makedirs(unl / "real")
    write_wav(unl / "real" / "r.wav", tone_clip(500))
    os.symlink(store / "batch1", unl / "linked1")
    os.symlink(store / "batch2", unl / "real" / "linked2")  # a link below a real folder
    ux, ids, upaths, skipped = datasets.load_unlabeled(unl, 8000, workers=2)
    assert not skipped and ux.shape == (5, 8000)
    assert sorted(os.path.relpath(p, unl) for p in upaths) == [
        "linked1/a0.wav",
        "linked1/a1.wav",
        "real/linked2/deeper/b0.wav",
        "real/linked2/deeper/b1.wav",
        "real/r.wav",
    ]
    assert np.max(np.abs(ux[upaths.index(str(unl / "linked1" / "a1.wav"))] - tone_clip(400, seed=1))) < 1e-3

    data = tmp_path / "data"
    for i in range(2):
        write_wav(data / "go" / f"g{i}_nohash_0.wav", tone_clip(600, seed=i))
    os.symlink(store / "batch2", data / "go" / "more")  # a linked folder below a label folder
    os.symlink(store / "batch1", data / "stop")  # a label folder that is a link
    ds = datasets.scan(data)
    assert ds.labels == ["go", "stop"]
    rel = sorted((ds.labels[c.label], os.path.relpath(c.path, data)) for c in ds.clips)
    assert rel == [
        ("go", "go/g0_nohash_0.wav"),
        ("go", "go/g1_nohash_0.wav"),
        ("go", "go/more/deeper/b0.wav"),
        ("go", "go/more/deeper/b1.wav"),
        ("stop", "stop/a0.wav"),
        ("stop", "stop/a1.wav"),
    ]
    x, _, _, bad = datasets.load(ds.clips, 8000)
    assert not bad and len(x) == 6 and not ds.rejected


def test_symlink_loops_terminate_and_list_each_file_once(tmp_path):
    unl = tmp_path / "unl"
    write_wav(unl / "a" / "one.wav", tone_clip(300))
    write_wav(unl / "a" / "b" / "two.wav", tone_clip(600))
    os.symlink(unl, unl / "a" / "b" / "to_top")  # back to an ancestor
    os.symlink(unl / "a", unl / "a" / "b" / "to_a")  # back to a parent's parent
    os.symlink("self", unl / "self")  # a link to itself: not a folder at all
    _, ids, paths, skipped = datasets.load_unlabeled(unl, 8000)
    assert paths == [str(unl / "a" / "one.wav"), str(unl / "a" / "b" / "two.wav")]  # walk order, once each
    assert [s["path"] for s in skipped] == [str(unl / "self")]
    assert "symbolic links" in skipped[0]["reason"]  # ELOOP: "Too many levels of symbolic links"

    write_wav(tmp_path / "data" / "up" / "u0_nohash_0.wav", tone_clip(500))
    write_wav(tmp_path / "data" / "up" / "u1_nohash_0.wav", tone_clip(500, seed=1))
    os.symlink(tmp_path / "data", tmp_path / "data" / "up" / "loop")  # a label folder's link to the root
    ds = datasets.scan(tmp_path / "data")
    assert ds.labels == ["up"]  # up/loop/up is 'up' itself: not walked again
    rel = [os.path.relpath(c.path, tmp_path / "data") for c in ds.clips]
    assert rel == ["up/u0_nohash_0.wav", "up/u1_nohash_0.wav"]


def test_folders_without_audio_are_warned_about(tmp_path):
    for i in range(2):
        write_wav(tmp_path / "data" / "yes" / f"y{i}_nohash_0.wav", tone_clip(500, seed=i))
    (tmp_path / "data" / "no").mkdir()
    (tmp_path / "data" / "no" / "notes.txt").write_text("recordings to follow")
    (tmp_path / "data" / "_background_noise_").mkdir()
    ds = datasets.scan(tmp_path / "data")
    assert ds.labels == ["no", "yes"]
    for folder in ("no", "_background_noise_"):
        path = str(tmp_path / "data" / folder)
        assert any(path in w and "no audio files found" in w for w in ds.warnings), (folder, ds.warnings)
    assert not any(str(tmp_path / "data" / "yes") in w for w in ds.warnings)

    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.md").write_text("x")
    x, ids, paths, skipped = datasets.load_unlabeled(tmp_path / "empty", 8000)
    assert x.shape == (0, 8000) and ids == [] and paths == []
    assert skipped[-1]["path"] == str(tmp_path / "empty")
    assert skipped[-1]["reason"].startswith("no audio files found (")
    assert [s["path"] for s in skipped[:-1]] == [str(tmp_path / "empty" / "sub" / "readme.md")]
