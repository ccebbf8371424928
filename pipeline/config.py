"""One run configuration: typed sections built once from flags and a `--config` file,
validated in one place.

```python
from pipeline import config
cfg = config.from_argv(["--epochs", "40", "--config", "run.yaml"])
cfg.train.epochs, cfg.student.family, cfg.data.clip_samples
config.key(cfg.student, cfg.train)       # a short hash of those sections (checkpoint names)
```
Every field of a section is a flag (`--clip-seconds`; booleans that default to on are
turned off with `--no-…`) and a key of the config file. A YAML or JSON config file holds
either flat keys (flag names, `-` or `_`) or one mapping per section:

    epochs: 40                  # flat
    train: {epochs: 40}         # by section
    student: {family: quicknet, exits: 3}

Flags given on the command line win over the file.
"""

import argparse
import dataclasses
import hashlib
import json
import math
import os
from typing import List, Optional, Tuple

from models.errors import ConfigError
from models.frontend import DEFAULT_FILTERS, DEFAULT_KIND, FILTER_PRECISIONS, FRONTEND_KINDS, SAMPLE_RATE

STAND_IN = "stand-in"
DEFAULT_TEACHER = "trillsson3"


def _whole(minimum):
    def check(v):
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            raise ValueError(f"{v!r} is not a whole number")
        try:
            v = int(v)
        except (TypeError, ValueError):
            raise ValueError(f"{v!r} is not a whole number") from None
        if v < minimum:
            raise ValueError(f"must be >= {minimum}, got {v}")
        return v

    return check


def _number(lo=None, hi=None, hi_open=False, lo_open=False):
    def check(v):
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{v!r} is not a number") from None
        if (
            not math.isfinite(v)
            or (lo is not None and (v <= lo if lo_open else v < lo))
            or (hi is not None and (v >= hi if hi_open else v > hi))
        ):
            span = (
                f"{'(' if lo_open else '['}{lo if lo is not None else '-inf'}, "
                f"{hi if hi is not None else 'inf'}{')' if hi_open else ']'}"
            )
            raise ValueError(f"must be in {span}, got {v}")
        return v

    return check


def _choice(*names):
    def check(v):
        if v not in names:
            raise ValueError(f"invalid choice: {v!r} (choose one of {', '.join(names)})")
        return v

    return check


def _path(v):
    return None if v is None else str(v)


def _view_kinds(v):
    """Comma-separated names (or a list) of `pipeline.views.KINDS`."""
    from pipeline import views

    items = v.split(",") if isinstance(v, str) else list(v)
    try:
        return views.check_kinds([str(x).strip() for x in items if str(x).strip()])
    except Exception as e:
        raise ValueError(str(e)) from None


def _paths(v):
    if v is None:
        return None
    return [str(p) for p in ([v] if isinstance(v, str) else v)]


def parse_exit_weights(v, exits=None):
    """ "0.5,0.75,1" (or a list of numbers) → [0.5, 0.75, 1.0], or None; checks the count against `exits`.

    ```python
    config.parse_exit_weights("0.5,0.75,1", exits=3)   # [0.5, 0.75, 1.0]
    ```
    """
    try:
        weights = _exit_weights(v)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if weights is not None and exits is not None and len(weights) != exits:
        raise ConfigError(f"{len(weights)} exit weights given for {exits} exits: give one per exit")
    return weights


def _exit_weights(v):
    if v is None or v == "":
        return None
    items = v.split(",") if isinstance(v, str) else list(v)
    try:
        weights = [float(w) for w in items]
    except (TypeError, ValueError):
        raise ValueError(f"exit weights must be numbers separated by commas (e.g. 0.5,0.75,1), got {v!r}") from None
    if any(not math.isfinite(w) or w < 0 for w in weights) or not any(weights):
        raise ValueError(f"exit weights must be finite, >= 0 and not all 0, got {v!r}")
    return weights


def _depth(v):
    """A whole number (every section) or one per section ("1,2,3" or a list) → int or tuple of ints."""
    if isinstance(v, str) and "," in v:
        v = v.split(",")
    if isinstance(v, (list, tuple)):
        return tuple(_whole(1)(x.strip() if isinstance(x, str) else x) for x in v)
    return _whole(1)(v)


def _family(v):
    from models import students  # the registry imports TensorFlow: only when a family is checked

    students.get(v)
    return v


def setting(default, help, check=None, flag=None, nargs=None, metavar=None, experimental=False):
    """A field of a section: its default, help text, check (value → value, raises ValueError) and flag;
    `experimental`: a research knob, not a measured gain (listed apart in --help)."""
    return dataclasses.field(
        default=default,
        metadata={
            "help": help,
            "check": check,
            "flag": flag,
            "nargs": nargs,
            "metavar": metavar,
            "experimental": experimental,
        },
    )


# the --help groups, by section; the research knobs that are not measured gains go to "experimental"
HELP_GROUPS = {
    "data": "data",
    "teacher": "teacher",
    "student": "student",
    "train": "training",
    "export": "export",
    "eval": "evaluation",
    None: "run",
}

# Settings (or one value of a setting) of earlier versions that lost in the project's own studies and
# were removed (CHANGELOG.md): a flag or config file that still names one is refused with the reason.
REMOVED = {
    "head_bands": "pooling each exit classifier's frequency rows into bands cost exit 1 19 and 24 points on "
    "the demo (docs/experiments/early-exit.md, runs e -> h and f -> i); every classifier sees "
    "every frequency row",
    "self_distill": "in its one run on the demo, self-distillation raised exit 2 by 8 points and lowered the "
    "cross-validated early exit by 6: no gain beyond noise (docs/experiments/early-exit.md)",
    "embedding_dropout": "dropout on what the embedding heads read put GE2E's held-out language at 0.94x the "
    "teacher (the default: 0.98x) and cost the keyword classifiers 5 points (docs/experiments/distillation.md; "
    "the code of commit 70d12f4)",
    "stochastic_depth": "over two real teachers and two seeds it moved the last exit by +1.1 points on average "
    "(swings of 5 either way: no gain beyond noise), missed the 0.97x target once and cost the keyword "
    "classifiers 6-9 points (the demo's last exit 7.6) (docs/experiments/distillation.md; the code of commit "
    "52b6935)",
    ("loss", "whitened"): "against a real teacher the whitened loss lost 9-36 points at every exit on every "
    "linear probe (docs/experiments/distillation.md); use mse (the default), cosine or l1",
}


def _removed(name, *value):
    """The error for a removed setting `name`, or for a removed `value` of a kept one; None when it was not removed."""
    try:
        why = REMOVED.get((name, value[0]) if value else name)
    except TypeError:  # an unhashable value (a list) was never removed
        return None
    if why is None:
        return None
    flag = " ".join(["--" + name.replace("_", "-"), *map(str, value)])
    return f"{flag} was removed in this version: {why} (see CHANGELOG.md)"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    data: Optional[str] = setting(
        None,
        "labelled task folder (DIR/<label>/*.wav or DIR/train|test/<label>/…); default: the bundled demo clips",
        _path,
        metavar="DIR",
    )
    unlabeled: Optional[str] = setting(None, "extra audio (any depth) used for distillation only", _path, metavar="DIR")
    clip_seconds: float = setting(1.0, "clip length in seconds (default: 1)", _number(0.05, 60.0))
    calibration_fraction: float = setting(
        0.0,
        "when the task lists no validation split: this seeded fraction of "
        "each label's training clips is held out of the classifier "
        "training to calibrate the exits (temperatures, early-exit "
        "thresholds); test clips only score (default: 0: thresholds on "
        "the test clips, with cross-validated figures)",
        _number(0, 1, hi_open=True),
        experimental=True,
    )
    format: str = setting(
        "memory",
        "memory: decode every clip into memory for the run (default); shards: decode once "
        "into TFRecord shards on disk that training streams (pipeline.shards)",
        _choice("memory", "shards"),
        flag="data-format",
    )
    shards: Optional[str] = setting(
        None,
        "with --data-format shards: the shard folder, shareable between runs (default: OUT/shards)",
        _path,
        metavar="DIR",
    )
    shard_clips: int = setting(1000, "clips per shard (default: 1000, about 32 MB of 1 s clips)", _whole(1))
    shuffle_buffer: int = setting(
        1024,
        "with --data-format shards: clips in the shuffle buffer (int16: 32 KB a "
        "second); a corpus that fits is read in order, batches as in memory "
        "(default: 1024)",
        _whole(1),
    )

    @property
    def clip_samples(self):
        return int(round(self.clip_seconds * SAMPLE_RATE))


@dataclasses.dataclass(frozen=True)
class TeacherConfig:
    handle: Optional[str] = setting(
        None,
        f"TF-Hub URL, local SavedModel folder, trillsson1…trillsson5, or "
        f"'{STAND_IN}' (default: {DEFAULT_TEACHER}; the demo uses a stand-in)",
        _path,
        flag="teacher",
    )
    output: str = setting(
        "embedding",
        "teacher output: dict key (default: embedding); a model with one tensor output needs none",
        str,
        flag="teacher-output",
    )
    cache: Optional[str] = setting(
        None,
        "teacher embedding cache, shareable between runs (default: OUT/teacher_cache)",
        _path,
        flag="teacher-cache",
        metavar="DIR",
    )
    extract: str = setting(
        "process",
        "with --data-format shards, where the teacher runs: process (this one, "
        "default) or beam (an Apache Beam pipeline; pip install -e '.[beam]')",
        _choice("process", "beam"),
    )
    beam_options: Optional[str] = setting(
        None,
        "with --extract beam: Beam pipeline options, one string (default: "
        "'--runner DirectRunner --direct_num_workers 2 "
        "--direct_running_mode multi_processing')",
        str,
        metavar="OPTIONS",
    )


@dataclasses.dataclass(frozen=True)
class StudentConfig:
    family: str = setting(
        "quicknet", "student family: quicknet (default), birealnet, binarydensenet, meliusnet", _family, flag="student"
    )
    exits: int = setting(3, "number of early exits, one per section (default: 3)", _whole(1))
    width: Optional[int] = setting(
        None,
        "channels of the first section; later sections double it up to 4x (default: the family's: quicknet 48, ...)",
        _whole(1),
    )
    depth: Optional[object] = setting(
        None,
        "blocks per section, i.e. between two exits: one number, or one per "
        "section such as 1,3,3 (default: the family's: quicknet 1 then 3, "
        "birealnet 3, ...)",
        _depth,
    )
    block: Optional[str] = setting(
        None,
        "quicknet's residual block: react (ReActNet: a learned sign threshold "
        "per channel before the binary conv, RPReLU after the residual add; the "
        "family's default) or quicknet (x + BN(ReLU(bconv(x))))",
        _choice("quicknet", "react"),
    )
    spec_augment: bool = setting(True, "SpecAugment time/frequency masks on the log-mel features while training")
    mel_bins: int = setting(40, "log-mel bands of the front end (default: 40)", _whole(8))
    frontend: str = setting(
        DEFAULT_KIND,
        "how the front end computes the spectrum (models.frontend.FRONTENDS): "
        "stft (TFLite's RFFT2D + ComplexAbs, then the mel matmul), dft (the same "
        "log-mel features by one strided convolution over the FFT bins the mel "
        "filters use), gabor (one fixed complex Gabor filter per mel band: a third "
        "of stft's time here, other features), multirate (gabor's filters, each band "
        "at the lowest sample rate that holds it: 0.5x gabor's MACs) (default: " + DEFAULT_KIND + ")",
        _choice(*FRONTEND_KINDS),
    )
    frontend_filters: str = setting(
        DEFAULT_FILTERS,
        "the values of the front end's fixed filters, which every file then stores exactly: float16 (default: "
        "each value rounded to float16, 64 KB less than float32 in each file that holds the gabor front end, "
        "accuracy within noise on the demo), float32, or int8 (each filter rounded to the int8 grid of one "
        "scale per filter: 32 KB less again; on the demo the last exit 6 points lower over 3 seeds)",
        _choice(*FILTER_PRECISIONS),
        experimental=True,
    )
    window_ms: float = setting(
        25.0,
        "front-end window in ms; the FFT is the next power of two (default: 25: 400 "
        "samples, FFT 512; 16: 256 samples, FFT 256)",
        _number(4.0, 64.0),
    )
    hop_ms: float = setting(
        10.0, "front-end hop in ms (default: 10; 20 halves the frames and everything after them)", _number(1.0, 100.0)
    )
    head_pool: str = setting(
        "time",
        "what each exit's classifier sees: time (mean over time, frequency kept; "
        "default) or global (the embedding head's pooled features, --embedding-pool)",
        _choice("global", "time"),
        experimental=True,
    )
    embedding_pool: str = setting(
        "band_stats",
        "what each exit's embedding head sees: band_stats (mean and "
        "standard deviation over time of every channel in every frequency "
        "row; default), stats (the same over time and frequency), global "
        "(average over time and frequency)",
        _choice("global", "stats", "band_stats"),
    )
    aggregate: bool = setting(
        True,
        "multi-layer aggregation: exit k's embedding head reads the pooled features of exits 1..k, concatenated "
        "(as ECAPA-TDNN), not only its own, so the later exits keep what transfers; without it embedding.tflite "
        "is about 0.7 MB smaller",
        flag="embedding-aggregate",
    )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int = setting(80, "distillation epochs (default: 80)", _whole(0))
    head_epochs: int = setting(40, "classifier-head epochs (default: 40)", _whole(0))
    fine_tune_epochs: int = setting(
        20,
        "after the heads, fine-tune everything on distillation + label loss at "
        "every exit (default: 20; 0 turns it off)",
        _whole(0),
    )
    batch_size: int = setting(32, "global batch size (default: 32)", _whole(1))
    loss: str = setting(
        "mse",
        "distillation loss at every exit: mse, cosine or l1 (default: mse)",
        _choice("mse", "cosine", "l1"),
        experimental=True,
    )
    exit_weights: Optional[List[float]] = setting(
        None,
        "distillation loss weight per exit, e.g. 0.5,0.75,1 (default: 1 for every exit)",
        _exit_weights,
        experimental=True,
    )
    optimizer: str = setting(
        "adam",
        "adam: Adam on latent weights, clipped (default); bop: larq's Bop for "
        "binary kernels (CaseOptimizer), Adam for the rest",
        _choice("adam", "bop"),
        experimental=True,
    )
    lr: float = setting(2e-3, "distillation learning rate, cosine-decayed (default: 2e-3)", _number(0.0))
    label_weight: float = setting(1.0, "label loss weight in the fine-tune (default: 1)", _number(0.0))
    twin_teacher: float = setting(
        0.0,
        "distil each binary exit toward this share of the trained float twin's "
        "exit embedding (the rest: the teacher's); trains the twin first (default: 0)",
        _number(0, 1),
        experimental=True,
    )
    twin_init: bool = setting(
        False,
        "start the binary student from the trained float twin's weights (trains "
        "the twin first, or reuses its checkpoint), as Bi-Real Net and ReActNet start "
        "from a real-valued network (default: off)",
        experimental=True,
    )
    teacher_views: int = setting(
        0,
        "distil also on this many teacher views of every distillation clip: copies "
        "changed by --view-kinds whose targets are the teacher's embeddings of the "
        "copies themselves (embedded once, cached) (default: 0)",
        _whole(0),
        experimental=True,
    )
    view_kinds: Tuple[str, ...] = setting(
        ("speed", "mix"),
        "what makes a teacher view: speed (resampled 0.85-1.15x: "
        "a new pseudo-voice), mix (another clip added at 0-15 "
        "dB below) (default: speed,mix)",
        _view_kinds,
        experimental=True,
    )
    view_mode: str = setting(
        "sample",
        "how the teacher views are used: sample (each epoch sees one version of "
        "every clip, the clip or one of its views: an epoch costs the same) or add "
        "(every view is one more clip: an epoch costs 1 + K times as much) (default: "
        "sample)",
        _choice("sample", "add"),
        experimental=True,
    )
    val_fraction: float = setting(
        0.1, "seeded fraction of the clips held out for validation loss (default: 0.1)", _number(0, 1, hi_open=True)
    )
    patience: int = setting(
        20, "stop a phase when its validation loss has not improved for this many epochs (default: 20)", _whole(1)
    )
    augment: bool = setting(True, "shift, gain and noise augmentation of the distillation clips")
    strategy: str = setting(
        "default",
        "tf.distribute strategy: default (one device, a GPU if present), mirrored "
        "(all local GPUs), multiworker (hosts in TF_CONFIG)",
        _choice("default", "mirrored", "multiworker"),
    )
    deterministic: bool = setting(
        True,
        "deterministic training (same seed, same machine: same weights and "
        "figures); --no-deterministic is the faster, non-repeatable mode",
    )


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    runs: int = setting(50, "timed runs per latency figure (default: 50)", _whole(1))
    embedding_rank: Optional[int] = setting(
        64,
        "embedding.tflite: each exit's float embedding head as a rank-R "
        "factor pair (truncated SVD: smaller, but a linear probe then sees "
        "only R directions; the report gives the cosine to the teacher of "
        "both); 0 keeps the full heads (default: 64)",
        _whole(0),
    )
    embedding_ensemble: bool = setting(
        True,
        "embedding.tflite: exit k's embedding is the mean of the embedding heads of exits 1..k (an ensemble of "
        "the exits' predictions of the teacher; the deeper heads fit the distillation audio, the earlier ones "
        "carry over to new speech); --no-embedding-ensemble ships each head alone",
    )
    int8_weights: bool = setting(
        True,
        "store weights as int8 behind a DEQUANTIZE op (export.weights; float compute at the same speed): "
        "embedding.tflite's dense heads rounded (a quarter of their bytes); the classifiers rounded to the int8 "
        "grid after training and scored so (students.classifiers_on_int8_grid), the classifier files then "
        "holding them, and the portable files' ±1 weights, as int8 exactly",
    )
    android: Optional[str] = setting(
        None,
        "also copy stages, labels and thresholds into an Android demo project's assets (e.g. android_demo)",
        _path,
        metavar="DIR",
    )


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    float_twin: bool = setting(
        False,
        "also train the float twin (every binary conv full-precision, the same "
        "recipe) and report what binarization costs per exit (report.json "
        "float_twin)",
    )
    baseline: str = setting(
        "ds_cnn",
        "also train this standard int8 keyword model on the same labels and front end "
        "(models.baselines: ds_cnn), stock TFLite int8, and time it round-robin with "
        "the exits (report.json baseline); none: skip",
        _choice("ds_cnn", "none"),
    )
    baseline_epochs: int = setting(60, "epochs of the baseline (early stopping as the student's)", _whole(1))
    baseline_hop_ms: float = setting(20.0, "front-end hop of the baseline (its kws recipe: 20 ms)", _number(1.0, 100.0))
    curve_every: int = setting(
        10,
        "with --eval-tasks: probe every exit's embedding on those tasks every this many "
        "distillation epochs: OUT/curves.json and curves.png (0: off; default: 10)",
        _whole(0),
    )
    tasks: Optional[List[str]] = setting(
        None,
        "after the run, linear-probe the teacher, every exit and a log-mel "
        "baseline on these task folders: OUT/eval.json, eval.md, eval.png",
        _paths,
        flag="eval-tasks",
        nargs="+",
        metavar="DIR",
    )


@dataclasses.dataclass(frozen=True)
class RunConfig:
    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig = StudentConfig()
    train: TrainConfig = TrainConfig()
    export: ExportConfig = ExportConfig()
    eval: EvalConfig = EvalConfig()
    seed: int = setting(
        0, "seed of the split, the stand-in teacher, initialisation, data order and augmentation", _whole(0)
    )
    repeats: int = setting(
        1,
        "train this many seeds (seed, seed+1, …) on the same clips and teacher targets; "
        "the report gives every accuracy as mean ± sd with the per-seed values",
        _whole(1),
    )
    out: Optional[str] = setting(None, "output folder (default: artifacts/<run-name>)", _path, metavar="DIR")
    quiet: bool = setting(False, "no progress lines and no Keras progress bars")

    @property
    def run_name(self):
        if not self.data.data:
            return "demo"
        return f"{os.path.basename(os.path.normpath(self.data.data))}-{self.student.family}"

    @property
    def out_dir(self):
        return os.path.abspath(self.out or os.path.join("artifacts", self.run_name))

    @property
    def teacher_handle(self):
        """The teacher asked for: --teacher, else the stand-in for the demo and trillsson3 for --data."""
        return self.teacher.handle or (DEFAULT_TEACHER if self.data.data else STAND_IN)

    def flat(self):
        """{flag dest: value} of every setting (report.json `settings`)."""
        return {name: value for name, _, value in _walk(self)}


SECTIONS = {f.name: f.type for f in dataclasses.fields(RunConfig) if dataclasses.is_dataclass(f.type)}


def _fields(cls):
    return [f for f in dataclasses.fields(cls) if not dataclasses.is_dataclass(f.type)]


def _dest(f):
    return (f.metadata.get("flag") or f.name).replace("-", "_")


def _walk(cfg):
    """(dest, field, value) of every setting, section by section."""
    for sec in SECTIONS:
        part = getattr(cfg, sec)
        for f in _fields(type(part)):
            yield _dest(f), f, getattr(part, f.name)
    for f in _fields(RunConfig):
        yield _dest(f), f, getattr(cfg, f.name)


def _all_fields():
    return [(sec, f) for sec, cls in SECTIONS.items() for f in _fields(cls)] + [(None, f) for f in _fields(RunConfig)]


def key(*sections, extra=None):
    """A short hash of whole sections (`dataclasses.asdict`) and `extra`: what a cache or checkpoint is keyed on."""
    blob = json.dumps([dataclasses.asdict(s) for s in sections] + [extra], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def parser(prog="pipeline/run.py", description=None, add_help=True):
    """The run's flags, one per setting; values are checked by `build`, not by argparse."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        add_help=add_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML or JSON file of settings (flat flag names, or one "
        "mapping per section: data, teacher, student, train, export, eval)",
    )
    groups = {name: p.add_argument_group(name) for name in list(HELP_GROUPS.values()) + ["experimental"]}
    groups["experimental"].description = "research knobs: their alternatives to the default are not measured gains"
    for sec, f in _all_fields():
        dest, flag = _dest(f), "--" + (f.metadata.get("flag") or f.name).replace("_", "-")
        g = groups["experimental" if f.metadata.get("experimental") else HELP_GROUPS[sec]]
        text = f.metadata["help"]
        if "default" not in text and f.default is not None and not (f.type is bool or f.type == "bool"):
            shown = ",".join(map(str, f.default)) if isinstance(f.default, (tuple, list)) else f.default
            text += f" (default: {shown})"  # printed from the code, never retyped
        if f.type is bool or f.type == "bool":
            if f.default:
                g.add_argument(f"--no-{flag[2:]}", dest=dest, action="store_false", help="no " + text)
            else:
                g.add_argument(flag, dest=dest, action="store_true", help=text)
        else:
            g.add_argument(flag, dest=dest, help=text, nargs=f.metadata.get("nargs"), metavar=f.metadata.get("metavar"))
    for name in REMOVED:  # accepted, then refused by `build` with the reason, not argparse's "unrecognized"
        if isinstance(name, str):
            p.add_argument("--" + name.replace("_", "-"), dest=name, help=argparse.SUPPRESS)
    return p


def read_file(path):
    """A config file → {dest: value}, flat or by section; `ConfigError` names the file and the problem."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror or e})") from None
    try:
        if str(path).endswith(".json"):
            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
    except Exception as e:  # yaml.YAMLError, json.JSONDecodeError
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{path}: not valid {'JSON' if str(path).endswith('.json') else 'YAML'} ({first})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config file holds a mapping of settings (key: value), not a {type(raw).__name__}")
    known = {_dest(f): (sec, f) for sec, f in _all_fields()}
    flat = {}
    for k, v in raw.items():
        k = str(k).replace("-", "_")
        if k in SECTIONS and isinstance(v, dict):
            names = {f.name: _dest(f) for f in _fields(SECTIONS[k])}
            for kk, vv in v.items():
                kk = str(kk).replace("-", "_")
                if _removed(kk):
                    raise ConfigError(f"{path}: {_removed(kk)}")
                if kk not in names and kk not in names.values():
                    raise ConfigError(f"{path}: section '{k}' has no setting '{kk}'; it has {sorted(names)}")
                flat[names.get(kk, kk)] = vv
        elif k in known:
            flat[k] = v
        elif _removed(k):
            raise ConfigError(f"{path}: {_removed(k)}")
        else:
            raise ConfigError(f"{path}: unknown setting '{k}'; known: {sorted(known)}")
    for k, v in flat.items():
        if _removed(k, v):
            raise ConfigError(f"{path}: {_removed(k, v)}")
    return flat


def build(values=None, config_file=None):
    """A validated `RunConfig` from {dest: value} (flags) over the config file's values over the defaults."""
    given = {**(read_file(config_file) if config_file else {}), **(values or {})}
    for dest, v in given.items():
        if _removed(dest) or _removed(dest, v):
            raise ConfigError(_removed(dest) or _removed(dest, v))
    parts = {sec: {} for sec in SECTIONS}
    top = {}
    for sec, f in _all_fields():
        dest = _dest(f)
        if dest not in given:
            continue
        v = given[dest]
        check = f.metadata.get("check")
        if v is not None and check is not None:
            try:
                v = check(v)
            except ValueError as e:
                raise ConfigError(f"--{dest.replace('_', '-')}: {e}") from None
        elif f.type is bool and not isinstance(v, bool):
            raise ConfigError(f"--{dest.replace('_', '-')}: expected true or false, got {v!r}")
        (parts[sec] if sec else top)[f.name] = v
    cfg = RunConfig(**{sec: SECTIONS[sec](**kw) for sec, kw in parts.items()}, **top)
    depth = cfg.student.depth
    if isinstance(depth, tuple) and len(depth) != cfg.student.exits:
        raise ConfigError(
            f"--depth: {len(depth)} section depths given for {cfg.student.exits} exits: give one per exit"
        )
    if cfg.data.format == "shards" and (cfg.train.twin_teacher or cfg.train.teacher_views):
        raise ConfigError(
            "--data-format shards: --twin-teacher and --teacher-views need every clip in memory; use "
            "--data-format memory"
        )
    try:
        parse_exit_weights(cfg.train.exit_weights, cfg.student.exits)
    except ConfigError as e:
        raise ConfigError(f"--exit-weights: {e}") from None
    return cfg


def from_argv(argv=None, prog="pipeline/run.py", description=None):
    """Parse the run's flags (argparse exits on a malformed command line) and `build` the configuration."""
    ns = vars(parser(prog, description).parse_args(argv))
    config_file = ns.pop("config", None)
    return build(ns, config_file)
