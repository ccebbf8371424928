"""Synthesise a small multi-task speech corpus with espeak-ng, to try the pipeline end to end.

    brillsson speech-corpus OUT [--scale 1.0] [--seed 0] [--tasks keywords,language,speaker,unlabeled]
        [--jobs N] [--quiet]

```python
from pipeline.tools import speech_corpus
doc = speech_corpus.build("/tmp/corpus", tasks=("keywords",), scale=0.1, seed=0, jobs=2)
doc["tasks"]["keywords"]["splits"]["test"]["voices"]          # none of them is a train voice
specs = speech_corpus.plan(("language",), scale=1.0, seed=0)   # what would be made, nothing synthesised
```

The files are 16 kHz mono 16-bit WAV in the layouts `brillsson run --data/--unlabeled` and
`brillsson evaluate --tasks` read:

    OUT/<task>/train|test/<label>/<nnnn>.wav    labelled tasks
    OUT/unlabeled/<nnnnn>.wav                   an unlabelled pool (distillation audio)
    OUT/corpus.json                             tasks, labels, voices per split, clip counts, seed, scale

Tasks (`TASKS`, each a small dataclass that plans its clips; clips per label at `--scale 1`):

* keywords: 10 command words, `_unknown_` (other words, some of them near misses) and
  `_silence_` (noise only), 1 s clips, 80 train + 20 test per label. The test split is spoken by
  voices the train split never has: other English accents and other espeak-ng variants.
* language: spoken-language identification among 8 languages (weekdays, colours and a few nouns
  in each), 2 s clips, 45 train + 15 test per label; test voices use variants train never has.
* speaker: identification among 8 voice/variant combinations, each with its own base pitch,
  2 s clips of English words, 45 train + 15 test per label.
* unlabeled: 600 clips of 2 s, mixed languages and words, spoken only by train-side voices (no
  keyword or language test voice is ever distilled on).

At `--scale 1`: 2,760 clips, about 140 MB. Every clip varies speaking rate, pitch, placement in
its window and level, and half of them get white, pink or brown noise at 30, 20, 10 or 5 dB SNR.
All of it comes from `--seed` (one random stream per task, so a task's clips do not depend on
which other tasks are made): the same seed, scale and espeak-ng version give the same bytes,
whatever `--jobs`. espeak-ng's output (22.05 kHz) is resampled to 16 kHz here with
`scipy.signal.resample_poly`, so espeak-ng is the only program needed (apt-get install espeak-ng).

Every WAV is written atomically (a temporary file beside it, then renamed), so a stopped run
leaves no partial clip; a rerun keeps each clip whose file is already a 16 kHz mono 16-bit WAV of
the right length and makes the rest. `corpus.json` is written before synthesis (each task
`"complete": false`) and again after it: a rerun with another `--seed` or `--scale` into the same
folder stops with an error instead of mixing two corpora; one with other `--tasks` adds them.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import wave
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np

from export.files import atomic_write, read_json
from pipeline.errors import DataError, as_command
from pipeline import usage

SAMPLE_RATE = 16000  # models.frontend.SAMPLE_RATE (not imported: it would bring TensorFlow)
ESPEAK = "espeak-ng"  # the program; tests point this at a missing one
CORPUS_JSON = "corpus.json"
UNKNOWN, SILENCE = "_unknown_", "_silence_"  # the label names pipeline.datasets knows
PROGRESS_EVERY = 250  # clips between progress lines
SNRS_DB: Tuple[Optional[float], ...] = (None, None, None, None, 30.0, 20.0, 20.0, 10.0, 5.0)  # None: clean
NOISES = ("white", "pink", "brown")
_STALE = re.compile(r"\.wav\.tmp-[0-9a-f]{32}$")  # export.files.atomic_write's temporary names


class SynthesisError(DataError):
    """espeak-ng is missing, lacks a voice the corpus needs, or failed on a clip."""


# ---------------------------------------------------------------------------------------------------
# What to say and who says it
# ---------------------------------------------------------------------------------------------------

COMMANDS = ("open", "close", "start", "pause", "next", "back", "louder", "quieter", "lights", "music")
# near misses of the commands first, then words unlike any of them
OTHER_WORDS = (
    "opener", "closet", "started", "paws", "text", "black", "cloudy", "lighter", "musical", "quite",
    "garden", "window", "paper", "river", "yellow", "seven", "table", "morning", "orange", "pencil",
    "doctor", "kitchen", "basket", "rabbit", "travel", "number", "monday", "chicken", "button", "water",
)  # fmt: skip
ENGLISH_WORDS = COMMANDS + OTHER_WORDS + (
    "the", "a", "my", "your", "is", "was", "very", "small", "green", "quickly", "today", "after",
)  # fmt: skip

# label -> (espeak-ng language, words): weekdays, colours, water, house, bread, friend
LANGUAGES: Tuple[Tuple[str, str, str], ...] = (
    ("de", "de", "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag rot blau grün gelb schwarz weiß "
     "Wasser Haus Brot Freund"),
    ("es", "es", "lunes martes miércoles jueves viernes sábado domingo rojo azul verde amarillo negro blanco "
     "agua casa pan amigo"),
    ("fi", "fi", "maanantai tiistai keskiviikko torstai perjantai lauantai sunnuntai punainen sininen vihreä "
     "keltainen musta valkoinen vesi talo leipä ystävä"),
    ("fr", "fr-fr", "lundi mardi mercredi jeudi vendredi samedi dimanche rouge bleu vert jaune noir blanc "
     "eau maison pain ami"),
    ("hu", "hu", "hétfő kedd szerda csütörtök péntek szombat vasárnap piros kék zöld sárga fekete fehér "
     "víz ház kenyér barát"),
    ("it", "it", "lunedì martedì mercoledì giovedì venerdì sabato domenica rosso blu verde giallo nero bianco "
     "acqua casa pane amico"),
    ("pt", "pt", "segunda terça quarta quinta sexta sábado domingo vermelho azul verde amarelo preto branco "
     "água casa pão amigo"),
    ("tr", "tr", "pazartesi salı çarşamba perşembe cuma cumartesi pazar kırmızı mavi yeşil sarı siyah beyaz "
     "su ev ekmek arkadaş"),
)  # fmt: skip

# English accents and espeak-ng variants (`espeak-ng --voices=variant`), split into a train side and
# a test side that share nothing; the unlabelled pool uses only the train side.
TRAIN_ACCENTS = ("en-us", "en-gb", "en-029", "en-gb-x-rp")
TEST_ACCENTS = ("en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
TRAIN_VARIANTS = ("", "m1", "m3", "m5", "m7", "f1", "f3", "f5", "klatt", "klatt3")
TEST_VARIANTS = ("m2", "m4", "m6", "f2", "f4", "klatt2", "klatt4")


def voice(language: str, variant: str = "") -> str:
    """An espeak-ng voice as `-v` takes it: `en-gb+f2`, or the language alone for its default."""
    return f"{language}+{variant}" if variant else language


def voices(languages: Iterable[str], variants: Iterable[str]) -> Tuple[str, ...]:
    return tuple(voice(lang, var) for lang in languages for var in variants)


# ---------------------------------------------------------------------------------------------------
# Clip specs and tasks
# ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """One clip, everything needed to make its bytes: `text` spoken by `voice` (no text: noise only)
    at `rate` words per minute and espeak-ng `pitch` (0-99), its peak at `level_db` dBFS (noise only:
    the noise's RMS), placed at `place` (0: start, 1: end) of the room left in the window, plus
    `noise` at `snr_db` (None: clean); `seed` draws the noise."""

    path: str  # relative to OUT, "/"-separated
    task: str
    split: str  # "train", "test" or "pool"
    label: str  # "" in the unlabelled pool
    seconds: float
    text: str = ""
    voice: str = ""
    rate: int = 175
    pitch: int = 50
    level_db: float = -3.0
    place: float = 0.5
    snr_db: Optional[float] = None
    noise: str = "white"
    seed: int = 0

    @property
    def samples(self) -> int:
        return int(round(self.seconds * SAMPLE_RATE))


def _spec(rng: random.Random, path, task, split, label, seconds, text, voice_, pitch=(25, 75), rate=(125, 215)):
    """A clip spec with a random delivery: rate, pitch, level, placement, noise."""
    return ClipSpec(
        path=path,
        task=task,
        split=split,
        label=label,
        seconds=seconds,
        text=text,
        voice=voice_,
        rate=rng.randint(*rate),
        pitch=rng.randint(*pitch),
        level_db=round(rng.uniform(-20.0, -1.0), 2),
        place=round(rng.random(), 4),
        snr_db=rng.choice(SNRS_DB),
        noise=rng.choice(NOISES),
        seed=rng.getrandbits(32),
    )


def _count(base: int, scale: float) -> int:
    return max(1, int(round(base * scale)))


def _balanced(rng: random.Random, pool: Sequence[str], n: int) -> List[str]:
    """`n` picks from `pool`, each used as evenly as possible, in a random order."""
    order = rng.sample(list(pool), len(pool))
    return [order[i % len(order)] for i in range(n)]


@dataclasses.dataclass(frozen=True)
class Task:
    """A task: its name (the folder under OUT), clip length, and a planner of its clips."""

    name: str
    seconds: float
    about: str

    def labels(self) -> List[str]:
        return []

    def clips(self, rng: random.Random, scale: float) -> List[ClipSpec]:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class KeywordTask(Task):
    name: str = "keywords"
    seconds: float = 1.0
    about: str = "command words, other words (_unknown_) and noise (_silence_); test voices unseen in train"
    words: Tuple[str, ...] = COMMANDS
    others: Tuple[str, ...] = OTHER_WORDS
    train_voices: Tuple[str, ...] = voices(TRAIN_ACCENTS, TRAIN_VARIANTS)
    test_voices: Tuple[str, ...] = voices(TEST_ACCENTS, TEST_VARIANTS)
    per_label: Tuple[Tuple[str, int], ...] = (("train", 80), ("test", 20))

    def labels(self) -> List[str]:
        return list(self.words) + [UNKNOWN, SILENCE]

    def clips(self, rng, scale):
        out = []
        for split, base in self.per_label:
            pool = self.train_voices if split == "train" else self.test_voices
            n = _count(base, scale)
            for label in self.labels():
                for i, v in enumerate(_balanced(rng, pool, n)):
                    text = "" if label == SILENCE else rng.choice(self.others) if label == UNKNOWN else label
                    spec = _spec(rng, f"{self.name}/{split}/{label}/{i:04d}.wav", self.name, split, label,
                                 self.seconds, text, v)  # fmt: skip
                    if label == SILENCE:  # noise only, from quiet to moderate
                        spec = dataclasses.replace(spec, voice="", level_db=round(rng.uniform(-60.0, -25.0), 2))
                    out.append(spec)
        return out


@dataclasses.dataclass(frozen=True)
class LanguageTask(Task):
    name: str = "language"
    seconds: float = 2.0
    about: str = "spoken-language identification; test voices use variants train never has"
    languages: Tuple[Tuple[str, str, str], ...] = LANGUAGES  # (label, espeak-ng language, words)
    train_variants: Tuple[str, ...] = TRAIN_VARIANTS
    test_variants: Tuple[str, ...] = TEST_VARIANTS
    per_label: Tuple[Tuple[str, int], ...] = (("train", 45), ("test", 15))
    words_per_clip: Tuple[int, int] = (2, 4)

    def labels(self) -> List[str]:
        return [label for label, _, _ in self.languages]

    def clips(self, rng, scale):
        out = []
        for split, base in self.per_label:
            variants = self.train_variants if split == "train" else self.test_variants
            n = _count(base, scale)
            for label, language, words in self.languages:
                vocabulary = words.split()
                for i, var in enumerate(_balanced(rng, variants, n)):
                    text = " ".join(rng.sample(vocabulary, rng.randint(*self.words_per_clip)))
                    out.append(_spec(rng, f"{self.name}/{split}/{label}/{i:04d}.wav", self.name, split, label,
                                     self.seconds, text, voice(language, var)))  # fmt: skip
        return out


@dataclasses.dataclass(frozen=True)
class SpeakerTask(Task):
    name: str = "speaker"
    seconds: float = 2.0
    about: str = "speaker identification among espeak-ng voice/variant combinations, each at its own pitch"
    # (voice, base pitch): the label is the voice
    speakers: Tuple[Tuple[str, int], ...] = (
        ("en-us+m1", 38), ("en-us+f2", 62), ("en-gb+m3", 30), ("en-gb+f1", 70),
        ("en-029+m4", 45), ("en-gb-x-rp+f4", 55), ("en-gb-scotland+m7", 50), ("en-gb-x-gbclan+f5", 66),
    )  # fmt: skip
    words: Tuple[str, ...] = ENGLISH_WORDS
    per_label: Tuple[Tuple[str, int], ...] = (("train", 45), ("test", 15))
    words_per_clip: Tuple[int, int] = (3, 5)
    pitch_jitter: int = 5

    def labels(self) -> List[str]:
        return [v for v, _ in self.speakers]

    def clips(self, rng, scale):
        out = []
        for split, base in self.per_label:
            for v, pitch in self.speakers:
                for i in range(_count(base, scale)):
                    text = " ".join(rng.sample(self.words, rng.randint(*self.words_per_clip)))
                    span = (pitch - self.pitch_jitter, pitch + self.pitch_jitter)
                    out.append(_spec(rng, f"{self.name}/{split}/{v}/{i:04d}.wav", self.name, split, v,
                                     self.seconds, text, v, pitch=span))  # fmt: skip
        return out


@dataclasses.dataclass(frozen=True)
class PoolTask(Task):
    name: str = "unlabeled"
    seconds: float = 2.0
    about: str = "unlabelled pool: mixed languages and words, train-side voices only"
    count: int = 600
    english_accents: Tuple[str, ...] = TRAIN_ACCENTS
    languages: Tuple[Tuple[str, str, str], ...] = LANGUAGES
    variants: Tuple[str, ...] = TRAIN_VARIANTS
    english_share: float = 0.5
    words_per_clip: Tuple[int, int] = (2, 5)

    def clips(self, rng, scale):
        out = []
        for i in range(_count(self.count, scale)):
            if rng.random() < self.english_share:
                language, vocabulary = rng.choice(self.english_accents), ENGLISH_WORDS
            else:
                _, language, words = rng.choice(self.languages)
                vocabulary = tuple(words.split())
            text = " ".join(rng.sample(vocabulary, rng.randint(*self.words_per_clip)))
            v = voice(language, rng.choice(self.variants))
            out.append(_spec(rng, f"{self.name}/{i:05d}.wav", self.name, "pool", "", self.seconds, text, v))
        return out


TASKS: Dict[str, Task] = {t.name: t for t in (KeywordTask(), LanguageTask(), SpeakerTask(), PoolTask())}


def plan(tasks: Sequence[str] = tuple(TASKS), scale: float = 1.0, seed: int = 0) -> Dict[str, List[ClipSpec]]:
    """The clip specs of each task, one random stream per (seed, task): nothing is synthesised."""
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise DataError(f"unknown task {', '.join(unknown)} (the tasks: {', '.join(TASKS)})")
    if not scale > 0:
        raise DataError(f"--scale must be above 0, not {scale}")
    return {name: TASKS[name].clips(random.Random(f"speech-corpus/{seed}/{name}"), scale) for name in tasks}


# ---------------------------------------------------------------------------------------------------
# espeak-ng
# ---------------------------------------------------------------------------------------------------


def find_espeak() -> str:
    """The espeak-ng program's path, else `SynthesisError`."""
    path = shutil.which(ESPEAK)
    if path is None:
        raise SynthesisError("espeak-ng is not installed: apt-get install espeak-ng")
    return path


def _run(args: Sequence[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(args), capture_output=True, timeout=60)
    except FileNotFoundError:
        raise SynthesisError("espeak-ng is not installed: apt-get install espeak-ng") from None
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SynthesisError(f"{' '.join(args[:3])}: cannot run ({e})") from None


def espeak_version(espeak: str) -> str:
    """`espeak-ng --version`'s version number (e.g. "1.51"), "" if it prints none."""
    found = re.search(rb"text-to-speech:\s*(\S+)", _run([espeak, "--version"]).stdout)
    return found.group(1).decode() if found else ""


def installed(espeak: str) -> Tuple[Set[str], Set[str]]:
    """(languages, variants) espeak-ng has, from `espeak-ng --voices` and `--voices=variant`."""
    languages, variants = set(), set()
    for line in _run([espeak, "--voices"]).stdout.decode(errors="replace").splitlines()[1:]:
        cols = line.split()
        if len(cols) > 1:
            languages.add(cols[1])
    for line in _run([espeak, "--voices=variant"]).stdout.decode(errors="replace").splitlines()[1:]:
        variants.update(c[len("!v/") :] for c in line.split() if c.startswith("!v/"))
    return languages, variants


def check_voices(espeak: str, needed: Dict[str, Iterable[str]]) -> None:
    """`SynthesisError` naming every voice a task needs that espeak-ng lacks (an unknown language
    fails in espeak-ng; an unknown variant would silently fall back to the default voice)."""
    languages, variants = installed(espeak)
    missing = []
    for task, specs in needed.items():
        for spec in sorted(set(specs)):
            language, _, variant = spec.partition("+")
            if language not in languages or (variant and variant not in variants):
                missing.append(f"{spec} ({task})")
    if missing:
        raise SynthesisError(
            f"espeak-ng has no voice {', '.join(missing)}: `espeak-ng --voices` lists its languages and "
            "`espeak-ng --voices=variant` its variants (a newer espeak-ng may have them)"
        )


def _riff_pcm(data: bytes) -> Tuple[np.ndarray, int]:
    """16-bit mono PCM of a WAV espeak-ng streamed to stdout (its data size is a placeholder: the
    samples run to the end)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SynthesisError("espeak-ng wrote no WAV")
    pos, rate = 12, None
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if tag == b"fmt ":
            fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body : body + 16])
            if (fmt, channels, bits) != (1, 1, 16):
                raise SynthesisError(f"espeak-ng wrote format {fmt}, {channels} channels, {bits} bits")
        elif tag == b"data":
            if rate is None:
                raise SynthesisError("espeak-ng's WAV has no fmt chunk")
            pcm = data[body : body + (len(data) - body) // 2 * 2]
            return np.frombuffer(pcm, "<i2").astype(np.float64) / 32768.0, rate
        pos = body + size + (size & 1)
    raise SynthesisError("espeak-ng's WAV has no data chunk")


def speak(espeak: str, text: str, voice_: str, rate: int, pitch: int) -> np.ndarray:
    """`text` spoken by espeak-ng, float64 at 16 kHz."""
    from scipy.signal import resample_poly

    done = _run([espeak, "-b", "1", "-v", voice_, "-s", str(rate), "-p", str(pitch), "--stdout", text])
    if done.returncode != 0 or not done.stdout:
        why = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise SynthesisError(f"espeak-ng -v {voice_} failed on {text!r}: {why}")
    x, rate_in = _riff_pcm(done.stdout)
    g = math.gcd(SAMPLE_RATE, rate_in)
    return resample_poly(x, SAMPLE_RATE // g, rate_in // g) if rate_in != SAMPLE_RATE else x


# ---------------------------------------------------------------------------------------------------
# A clip's samples and file
# ---------------------------------------------------------------------------------------------------


def coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    """Unit-RMS noise: white, pink (power 1/f) or brown (1/f²), shaped in the frequency domain."""
    x = rng.standard_normal(n)
    if colour != "white":
        spectrum = np.fft.rfft(x)
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0
        spectrum /= f ** (0.5 if colour == "pink" else 1.0)
        spectrum[0] = 0.0
        x = np.fft.irfft(spectrum, n)
    return x / max(float(np.sqrt(np.mean(x**2))), 1e-12)


def _trim(x: np.ndarray, margin: int = SAMPLE_RATE // 100) -> np.ndarray:
    """Speech without espeak-ng's leading and trailing silence (10 ms kept either side)."""
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max()) if len(x) else []
    if not len(loud):
        return x
    return x[max(0, loud[0] - margin) : loud[-1] + 1 + margin]


def render(spec: ClipSpec, espeak: str = ESPEAK) -> np.ndarray:
    """The clip's int16 samples, exactly `spec.samples` of them."""
    rng = np.random.default_rng(spec.seed)
    n = spec.samples
    y = np.zeros(n)
    if spec.text:
        s = _trim(speak(espeak, spec.text, spec.voice, spec.rate, spec.pitch))
        if len(s) > n:  # too long for the window: a piece of it, faded in and out where cut
            start = int(round(spec.place * (len(s) - n)))
            s = s[start : start + n].copy()
            fade = np.linspace(0.0, 1.0, SAMPLE_RATE // 100)
            if start > 0:
                s[: len(fade)] *= fade
            s[-len(fade) :] *= fade[::-1]
        s *= 10 ** (spec.level_db / 20) / max(float(np.abs(s).max()), 1e-9)
        offset = int(round(spec.place * (n - len(s))))
        y[offset : offset + len(s)] = s
        if spec.snr_db is not None:
            power = float(np.mean(s**2))
            y += coloured_noise(rng, n, spec.noise) * np.sqrt(power / 10 ** (spec.snr_db / 10))
    else:
        y = coloured_noise(rng, n, spec.noise) * 10 ** (spec.level_db / 20)
    peak = float(np.abs(y).max())
    if peak > 0.99:
        y *= 0.99 / peak
    return np.round(y * 32767).astype(np.int16)


def wav_bytes(pcm: np.ndarray) -> bytes:
    """A 16 kHz mono 16-bit WAV file of `pcm` (int16)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


def is_complete(path: str, samples: int) -> bool:
    """Whether `path` is a 16 kHz mono 16-bit WAV of exactly `samples` samples (a rerun keeps it)."""
    try:
        with wave.open(path, "rb") as w:
            params = (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes())
            return params == (1, 2, SAMPLE_RATE, samples) and len(w.readframes(samples)) == 2 * samples
    except (OSError, EOFError, wave.Error):
        return False


def _make(job: Tuple[str, ClipSpec, str]) -> str:
    """Write one clip atomically (a process-pool job); returns its path."""
    out, spec, espeak = job
    return atomic_write(os.path.join(out, *spec.path.split("/")), wav_bytes(render(spec, espeak)))


# ---------------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------------


def describe(specs: Dict[str, List[ClipSpec]], seed: int, scale: float, espeak: str = "") -> dict:
    """corpus.json: the tasks with their labels, and per split the clips per label and the voices."""
    from pipeline import __version__

    tasks = {}
    for name, clips in specs.items():
        task = TASKS[name]
        entry = {"about": task.about, "seconds": task.seconds, "complete": False}
        if task.labels():
            entry["labels"] = task.labels()
        splits = {}
        for split in dict.fromkeys(c.split for c in clips):
            own = [c for c in clips if c.split == split]
            s = {"clips": len(own), "voices": sorted({c.voice for c in own if c.voice})}
            if task.labels():
                s["clips_per_label"] = {label: sum(c.label == label for c in own) for label in task.labels()}
            splits[split] = s
        entry["splits"] = splits
        tasks[name] = entry
    return {
        "tool": "brillsson speech-corpus",
        "version": __version__,
        "espeak_ng": espeak,
        "seed": seed,
        "scale": scale,
        "sample_rate": SAMPLE_RATE,
        "format": "WAV, mono, 16-bit PCM",
        "layout": "<task>/train|test/<label>/<clip>.wav; unlabeled/<clip>.wav",
        "clips": sum(len(c) for c in specs.values()),
        "tasks": tasks,
    }


def _write_description(out: str, doc: dict) -> None:
    atomic_write(os.path.join(out, CORPUS_JSON), (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode())


def _remove_stale(out: str, tasks: Iterable[str]) -> int:
    """Remove temporary files a killed run left in the task folders; returns how many."""
    n = 0
    for task in tasks:
        for dirpath, _, files in os.walk(os.path.join(out, task)):
            for f in files:
                if _STALE.search(f):
                    os.remove(os.path.join(dirpath, f))
                    n += 1
    return n


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build(
    out: str,
    tasks: Sequence[str] = tuple(TASKS),
    scale: float = 1.0,
    seed: int = 0,
    jobs: Optional[int] = None,
    progress: Optional[Callable[[str], None]] = _stderr,
) -> dict:
    """Make (or complete) the corpus in `out`; returns what corpus.json holds.

    Args:
        out: the corpus folder (created if missing).
        tasks: names in `TASKS`.
        scale: multiplies the clips per label (and of the pool); at least one each.
        seed: every random choice comes from it.
        jobs: synthesis processes (default: the CPU count; 1: in this process).
        progress: called with a progress line every `PROGRESS_EVERY` clips (None: silent).

    Raises:
        SynthesisError: espeak-ng is missing, lacks a voice, or fails on a clip.
        DataError: an unknown task, a scale not above 0, or `out` holds a corpus of another seed or scale.
    """
    tasks = list(dict.fromkeys(tasks))
    specs = plan(tasks, scale, seed)
    espeak = find_espeak()
    check_voices(espeak, {name: (c.voice for c in clips if c.voice) for name, clips in specs.items()})
    doc = describe(specs, seed, scale, espeak_version(espeak))
    previous = read_json(os.path.join(out, CORPUS_JSON))
    if isinstance(previous, dict) and previous.get("tasks"):
        if (previous.get("seed"), previous.get("scale")) != (seed, scale):
            raise DataError(
                f"{out} holds a corpus made with --seed {previous.get('seed')} --scale {previous.get('scale')}, "
                f"not --seed {seed} --scale {scale}: choose another folder (or remove this one)"
            )
        kept = {k: v for k, v in previous["tasks"].items() if k not in doc["tasks"]}
        doc["tasks"] = {**kept, **doc["tasks"]}
        doc["clips"] = sum(sum(s["clips"] for s in t["splits"].values()) for t in doc["tasks"].values())
    os.makedirs(out, exist_ok=True)
    _remove_stale(out, tasks)
    _write_description(out, doc)

    every = [c for name in tasks for c in specs[name]]
    todo = [c for c in every if not is_complete(os.path.join(out, *c.path.split("/")), c.samples)]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    say = progress or (lambda line: None)
    say(
        f"speech-corpus: {len(todo)} of {len(every)} clips to synthesise into {out} "
        f"({len(every) - len(todo)} already there), {jobs} process{'es' * (jobs > 1)}"
    )
    work = ((out, c, espeak) for c in todo)
    if jobs == 1:
        results: Iterable[str] = map(_make, work)
        pool = None
    else:
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
        results = pool.map(_make, work, chunksize=8)
    try:
        for i, _ in enumerate(results, 1):
            if i % PROGRESS_EVERY == 0 or i == len(todo):
                say(f"speech-corpus: {i}/{len(todo)} clips")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    for name in tasks:
        doc["tasks"][name]["complete"] = True
    _write_description(out, doc)
    say(f"speech-corpus: {out}: {doc['clips']} clips, described in {os.path.join(out, CORPUS_JSON)}")
    return doc


# ---------------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------------


def _task_list(text: str) -> List[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown task {', '.join(unknown) or '(none)'}: choose from {','.join(TASKS)}"
        )
    return names


def _positive(kind: type) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not above 0")
        return value

    return parse


def main(argv: Optional[Sequence[str]] = None, prog: str = "brillsson speech-corpus") -> dict:
    """The command: make the corpus; returns corpus.json's contents."""
    p = argparse.ArgumentParser(prog=prog, description=usage.summary(__doc__))
    p.add_argument("out", help="the corpus folder (a rerun completes it)")
    p.add_argument("--scale", type=_positive(float), default=1.0, help="multiplies the clips per label (default 1)")
    p.add_argument("--seed", type=int, default=0, help="every random choice comes from it (default 0)")
    p.add_argument(
        "--tasks",
        type=_task_list,
        default=",".join(TASKS),
        help=f"comma-separated subset of {','.join(TASKS)} (default: all)",
    )
    p.add_argument(
        "--jobs", type=_positive(int), default=os.cpu_count() or 1, help="synthesis processes (default: CPU count)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    a = p.parse_args(argv)
    doc = as_command(lambda: build(a.out, a.tasks, a.scale, a.seed, a.jobs, progress=None if a.quiet else _stderr))
    print(os.path.join(a.out, CORPUS_JSON))
    return doc


if __name__ == "__main__":
    main()
