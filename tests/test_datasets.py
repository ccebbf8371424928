import os

from pipeline import datasets
from conftest import tone_clip, write_wav


def test_train_test_layout(task_dir):
    ds = datasets.scan(task_dir)
    assert ds.labels == ["high", "low", "mid"]
    assert len(ds.split("train")) == 18 and len(ds.split("test")) == 6
    x, y, paths, skipped = datasets.load(ds.split("test"), 4000)
    assert x.shape == (6, 4000) and not skipped and sorted(set(y)) == [0, 1, 2]


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
