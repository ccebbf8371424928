"""`brillsson speech-corpus`: the plan (no espeak-ng needed), then a tiny corpus made with the real
espeak-ng (80 clips at --scale 0.02): layout, format, voices, determinism, resume, errors, and the
pipeline's own loader reading it."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import types
import wave

import numpy as np
import pytest

from pipeline import cli
from pipeline.errors import DataError
from pipeline.tools import speech_corpus as sc

SCALE = 0.02  # keywords: 2 train + 1 test clip per label; language, speaker: 1 + 1; pool: 12
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


def wav_files(root):
    return sorted(
        os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
        for d, _, files in os.walk(root)
        for f in files
        if f.endswith(".wav")
    )


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------------


def test_the_plan_has_every_label_in_both_splits_and_scale_multiplies_the_clips():
    full, half = sc.plan(scale=1.0), sc.plan(scale=0.5)
    expect = {"keywords": (80, 20), "language": (45, 15), "speaker": (45, 15)}
    for task, (train, test) in expect.items():
        labels = sc.TASKS[task].labels()
        for specs, k in ((full, 1.0), (half, 0.5)):
            for split, n in (("train", train), ("test", test)):
                per_label = [sum(c.label == lab and c.split == split for c in specs[task]) for lab in labels]
                assert per_label == [round(n * k)] * len(labels), (task, split, k)
    assert len(sc.TASKS["keywords"].labels()) == 12 and {"_unknown_", "_silence_"} <= set(sc.TASKS["keywords"].labels())
    assert len(sc.TASKS["language"].labels()) == 8 and len(sc.TASKS["speaker"].labels()) == 8
    assert len(full["unlabeled"]) == 600 and len(half["unlabeled"]) == 300
    assert all(c.split == "pool" and c.label == "" and c.seconds == 2.0 for c in full["unlabeled"])
    assert {c.seconds for c in full["keywords"]} == {1.0} and {c.seconds for c in full["language"]} == {2.0}
    assert len({c.path for s in full.values() for c in s}) == sum(len(s) for s in full.values())  # no path twice


def test_test_voices_are_never_train_voices_and_the_pool_never_uses_them():
    specs = sc.plan(scale=1.0)

    def used(task, split):
        return {c.voice for c in specs[task] if c.split == split and c.voice}

    kw_train, kw_test = used("keywords", "train"), used("keywords", "test")
    assert len(kw_train) >= 20 and len(kw_test) >= 10 and not kw_train & kw_test
    lang_test = used("language", "test")
    assert not used("language", "train") & lang_test
    assert not used("unlabeled", "pool") & (kw_test | lang_test)
    # the keyword labels are what is said; _silence_ is noise only
    for c in specs["keywords"]:
        if c.label == "_silence_":
            assert c.text == "" and c.voice == ""
        elif c.label == "_unknown_":
            assert c.text in sc.OTHER_WORDS
        else:
            assert c.text == c.label
    # each speaker label is one voice
    assert all(c.voice == c.label for c in specs["speaker"])


def test_the_plan_is_seeded_per_task_and_varies_the_delivery():
    a, b, other = sc.plan(seed=0), sc.plan(seed=0), sc.plan(seed=1)
    assert a == b and a["keywords"] != other["keywords"] and a["unlabeled"] != other["unlabeled"]
    assert sc.plan(("keywords",), seed=0)["keywords"] == a["keywords"]  # not changed by the other tasks
    spoken = [c for s in a.values() for c in s if c.text]
    assert len({c.rate for c in spoken}) > 50 and len({c.pitch for c in spoken}) > 40
    assert len({c.level_db for c in spoken}) > 100 and len({c.place for c in spoken}) > 100
    assert {c.snr_db for c in spoken} == {None, 30.0, 20.0, 10.0, 5.0} and {c.noise for c in spoken} == set(sc.NOISES)
    with pytest.raises(DataError, match="unknown task nope"):
        sc.plan(("nope",))
    with pytest.raises(DataError, match="scale"):
        sc.plan(scale=0)


def test_coloured_noise_has_unit_power_and_its_colour():
    rng = np.random.default_rng(0)
    low_share = {}
    for colour in sc.NOISES:
        x = sc.coloured_noise(rng, 16000, colour)
        assert abs(np.mean(x**2) - 1) < 1e-6
        power = np.abs(np.fft.rfft(x)) ** 2
        low_share[colour] = power[1:400].sum() / power[1:].sum()  # below 400 Hz
    assert low_share["white"] < 0.1 < low_share["pink"] < low_share["brown"]


# ---------------------------------------------------------------------------------------------------
# A tiny corpus made with espeak-ng
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The four tasks at SCALE, on 2 processes (the other runs use 1: the bytes must not differ)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    out = str(tmp_path_factory.mktemp("corpus") / "c")
    doc = sc.build(out, scale=SCALE, seed=0, jobs=2, progress=None)
    return out, doc


@needs_espeak
def test_the_layout_labels_and_every_clip_are_what_the_pipeline_reads(corpus):
    out, doc = corpus
    specs = sc.plan(scale=SCALE, seed=0)
    assert wav_files(out) == sorted(c.path for s in specs.values() for c in s)
    assert sorted(os.listdir(out)) == ["corpus.json", "keywords", "language", "speaker", "unlabeled"]
    on_disk = json.loads(read(os.path.join(out, "corpus.json")))
    assert on_disk == json.loads(json.dumps(doc)) and doc["seed"] == 0 and doc["scale"] == SCALE
    assert doc["clips"] == 80 == len(wav_files(out))
    for task in ("keywords", "language", "speaker"):
        entry = doc["tasks"][task]
        assert entry["complete"] and entry["labels"] == sc.TASKS[task].labels()
        for split in ("train", "test"):
            assert sorted(os.listdir(os.path.join(out, task, split))) == sorted(entry["labels"])
            counts = {lab: len(os.listdir(os.path.join(out, task, split, lab))) for lab in entry["labels"]}
            assert counts == entry["splits"][split]["clips_per_label"]
    assert doc["tasks"]["keywords"]["splits"]["train"]["clips"] == 24
    train_voices = set(doc["tasks"]["keywords"]["splits"]["train"]["voices"])
    test_voices = set(doc["tasks"]["keywords"]["splits"]["test"]["voices"])
    assert train_voices and test_voices and not train_voices & test_voices
    assert doc["tasks"]["unlabeled"]["splits"]["pool"]["clips"] == 12

    for rel in wav_files(out):
        with wave.open(os.path.join(out, rel)) as w:
            params = (w.getnchannels(), w.getsampwidth(), w.getframerate())
            pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        assert params == (1, 2, 16000), rel
        assert len(pcm) == (16000 if rel.startswith("keywords/") else 32000), rel
        peak = np.abs(pcm).max()
        if "/_silence_/" in rel:
            assert 0 < peak < 0.2 * 32767, rel  # noise only, never loud
        else:
            assert peak > 0.05 * 32767, rel  # speech at -20 to -1 dBFS
            loud = np.flatnonzero(np.abs(pcm) > 0.1 * peak)
            assert loud[-1] - loud[0] > 0.15 * 16000, rel  # something spoken, not a click


@needs_espeak
def test_the_pipelines_loader_reads_the_keywords_and_the_pool_without_skipping_anything(corpus):
    from pipeline import corpus as corpus_loader

    out, doc = corpus
    data = types.SimpleNamespace(
        data=os.path.join(out, "keywords"), unlabeled=os.path.join(out, "unlabeled"), clip_samples=16000
    )
    c = corpus_loader.load_corpus(data, seed=0)
    assert c.skipped == ()
    assert sorted(c.labels) == sorted(doc["tasks"]["keywords"]["labels"])
    assert len(c.train) == 24 and len(c.test) == 12
    assert sorted(np.bincount(c.train.labels)) == [2] * 12 and sorted(np.bincount(c.test.labels)) == [1] * 12
    assert len(c.unlabeled) == 24  # 12 files of 2 s, cut into 1 s clips
    assert np.abs(c.train.audio).max() <= 1.0 and np.abs(c.train.audio).max() > 0.05


@needs_espeak
def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_ones(corpus, tmp_path, monkeypatch):
    out, doc = corpus
    again, other = str(tmp_path / "again"), str(tmp_path / "other")
    monkeypatch.setattr(sc, "PROGRESS_EVERY", 10)
    lines = []
    sc.build(again, tasks=("keywords",), scale=SCALE, seed=0, jobs=1, progress=lines.append)
    assert lines[0].startswith("speech-corpus: 36 of 36 clips to synthesise") and lines[-1].endswith("corpus.json")
    assert [line for line in lines if "/36 clips" in line] == [f"speech-corpus: {i}/36 clips" for i in (10, 20, 30, 36)]
    kw = wav_files(os.path.join(out, "keywords"))
    assert wav_files(os.path.join(again, "keywords")) == kw
    for rel in kw:  # made with 1 process here, 2 in the fixture
        assert read(os.path.join(again, "keywords", rel)) == read(os.path.join(out, "keywords", rel)), rel
    assert json.loads(read(os.path.join(again, "corpus.json")))["tasks"] == {"keywords": doc["tasks"]["keywords"]}

    cli.call(["speech-corpus", other, "--scale", str(SCALE), "--seed", "1", "--tasks", "keywords", "--quiet"])
    assert wav_files(os.path.join(other, "keywords")) == kw
    same = [rel for rel in kw if read(os.path.join(other, "keywords", rel)) == read(os.path.join(out, "keywords", rel))]
    assert same == []
    assert json.loads(read(os.path.join(other, "corpus.json")))["seed"] == 1


@needs_espeak
def test_a_rerun_makes_only_the_missing_or_broken_clips(corpus, tmp_path):
    src, _ = corpus
    out = str(tmp_path / "c")
    shutil.copytree(src, out)
    gone, broken = "keywords/test/open/0000.wav", "language/train/fi/0000.wav"
    os.remove(os.path.join(out, gone))
    with open(os.path.join(out, broken), "r+b") as f:  # as a non-atomic writer would leave it
        f.truncate(20000)
    stale = os.path.join(out, "speaker", "train", "en-us+m1", "0000.wav.tmp-" + "ab" * 16)
    with open(stale, "wb") as f:
        f.write(b"RIFF")
    before = {rel: os.stat(os.path.join(out, rel)) for rel in wav_files(out)}

    lines = []
    sc.build(out, scale=SCALE, seed=0, jobs=1, progress=lines.append)
    assert lines[0].startswith("speech-corpus: 2 of 80 clips to synthesise") and "(78 already there)" in lines[0]
    assert not os.path.exists(stale)
    after = {rel: os.stat(os.path.join(out, rel)) for rel in wav_files(out)}
    assert sorted(after) == sorted([*before, gone])
    changed = sorted(rel for rel in after if rel not in before or after[rel].st_mtime_ns != before[rel].st_mtime_ns)
    assert changed == sorted([gone, broken])
    for rel in (gone, broken):
        assert read(os.path.join(out, rel)) == read(os.path.join(src, rel)), rel
    assert json.loads(read(os.path.join(out, "corpus.json"))) == json.loads(read(os.path.join(src, "corpus.json")))


@needs_espeak
def test_another_seed_or_scale_into_a_corpus_folder_is_one_error_line(corpus, tmp_path):
    src, _ = corpus
    out = str(tmp_path / "c")
    shutil.copytree(src, out)
    for flags in (["--seed", "1"], ["--scale", "0.5"]):
        with pytest.raises(SystemExit) as e:
            cli.call(["speech-corpus", out, "--scale", str(SCALE), *flags, "--quiet"])
        assert str(e.value).startswith(f"error: {out} holds a corpus made with --seed 0 --scale {SCALE}")
        assert "\n" not in str(e.value)
    assert sorted(wav_files(out)) == sorted(wav_files(src))  # nothing was touched


@needs_espeak
def test_a_voice_espeak_ng_lacks_is_named_before_anything_is_made(tmp_path, monkeypatch):
    speaker = sc.TASKS["speaker"]
    bad = dataclasses.replace(
        speaker, speakers=speaker.speakers[:2] + (("en-us+nosuchvariant", 50), ("zz-nowhere", 50))
    )
    monkeypatch.setitem(sc.TASKS, "speaker", bad)
    with pytest.raises(sc.SynthesisError) as e:
        sc.build(str(tmp_path / "c"), tasks=("speaker",), scale=SCALE, jobs=1, progress=None)
    message = str(e.value)
    assert "en-us+nosuchvariant (speaker)" in message and "zz-nowhere (speaker)" in message
    assert "en-us+m1" not in message and isinstance(e.value, DataError)
    assert not os.path.exists(tmp_path / "c")
    with pytest.raises(sc.SynthesisError, match="espeak-ng -v zz-nowhere failed on 'open'"):
        sc.speak(shutil.which("espeak-ng"), "open", "zz-nowhere", 175, 50)  # a clip that fails names its voice


def test_without_espeak_ng_the_command_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sc, "ESPEAK", "espeak-ng-that-is-not-installed")
    with pytest.raises(sc.SynthesisError):
        sc.build(str(tmp_path / "c"), progress=None)
    with pytest.raises(SystemExit) as e:
        cli.call(["speech-corpus", str(tmp_path / "c")])
    assert str(e.value) == "error: espeak-ng is not installed: apt-get install espeak-ng"
    assert not os.path.exists(tmp_path / "c")


@pytest.mark.slow
def test_the_console_command_without_espeak_ng_exits_1_with_one_error_line(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "brillsson")
    assert os.path.exists(exe), f"{exe}: the console script is missing: pip install -e . installs it"
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty folder: no espeak-ng on it
    done = subprocess.run(
        [exe, "speech-corpus", str(tmp_path / "c")], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        "error: espeak-ng is not installed: apt-get install espeak-ng"
    ]
