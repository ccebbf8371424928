"""Teacher extraction over a shard folder: the teacher's embedding of every clip, in this process
or as an Apache Beam pipeline (DirectRunner here; Dataflow, Flink or Spark by Beam's own options).

    python -m pipeline.extract --data DIR [--unlabeled DIR] --teacher HANDLE --shards SHARDS_DIR \
        [--teacher-output KEY] [--teacher-cache DIR] [--batch-size 32] [--extract process|beam] \
        [--beam-options "--runner DirectRunner --direct_num_workers 2 --direct_running_mode multi_processing"]

decodes the task into `SHARDS_DIR` (`pipeline.shards`, skipped where done; with `--extract beam` the
decode runs on Beam's workers too, one element per shard of audio files) and writes
`SHARDS_DIR/targets/<teacher key>/`, one embedding shard per audio shard with the same clip ids,
which `python pipeline/run.py --data-format shards --shards SHARDS_DIR` trains from. The work unit
is one audio shard: a worker loads the teacher once (`DoFn.setup`), reads the shard, runs its clips
through the teacher in batches of `--batch-size`, and writes the embedding shard and its sidecar
atomically. Embeddings also go to the teacher cache (`pipeline.cache`, the same keys as the
in-memory path), so a clip embedded by either path is never embedded again; a shard whose
embeddings are already written is not even read (a rerun, or an interrupted run resumed, embeds
nothing new).

```python
from pipeline import extract
tdir, info = extract.extract(shard_set, "OUT/teacher", cache_dir="OUT/teacher_cache", runner="beam")
info["clips_embedded"], info["cache_hits"], info["teacher_calls"]
```
apache-beam is an extra (`pip install -e ".[beam]"`), imported only by `pipeline.beam_extract`
when `runner="beam"`.
"""

import dataclasses
import logging
import os
import shlex
import time

import numpy as np

from pipeline import shards, targets
from pipeline import teacher as teacher_lib
from pipeline.cache import EmbeddingCache, clip_key
from pipeline.config import STAND_IN
from pipeline.errors import TeacherError
from pipeline import usage

log = logging.getLogger("pipeline.extract")  # not __name__: run with -m this module is __main__
RUNNERS = ("process", "beam")
STAND_IN_CALIBRATION = 512  # clips of the first training shards the stand-in teacher standardises on (its
# features of every calibration clip are computed at once: a fixed number keeps that memory fixed)


@dataclasses.dataclass(frozen=True)
class Job:
    """What an extraction worker needs (plain strings and numbers: Beam pickles it to its workers)."""

    shard_root: str
    targets_dir: str
    handle: str
    output_key: str
    cache_dir: str
    clip_samples: int
    batch_size: int


def embed_shard(job: Job, name, sha, teacher, cache):
    """Embed every clip of the audio shard `name` (whose SHA-256 is `sha`) and write its embedding shard;
    returns the sidecar. The cache answers the clips it holds; a failing clip raises `TeacherError`."""
    clips = shards.read_clips(os.path.join(job.shard_root, name))
    keys = [
        clip_key(cache, teacher.identity, cid, job.clip_samples, job.output_key, piece=piece >= 0, file_fingerprint=fp)
        for cid, piece, fp in zip(clips["id"], clips["piece"], clips["fingerprint"])
    ]
    calls = teacher.calls
    try:
        emb, hits, computed = teacher_lib.embed(teacher, clips["audio"], keys, cache, batch_size=job.batch_size)
    except ValueError as e:
        raise TeacherError(f"{name}: {e}") from None
    return shards.write_targets(
        job.targets_dir,
        name,
        sha,
        clips["id"],
        emb,
        {"computed": computed, "hits": hits, "calls": teacher.calls - calls, "pid": os.getpid()},
    )


def _run_in_process(job, todo, ss, progress):
    teacher = teacher_lib.Teacher(job.handle, job.output_key)
    cache = EmbeddingCache(job.cache_dir)
    t0, n = time.perf_counter(), 0
    for i, name in enumerate(todo, 1):
        side = embed_shard(job, name, ss.meta(name)["sha256"], teacher, cache)
        n += side["clips"]
        progress(f"extract: {name} ({i}/{len(todo)} shards, {n / max(time.perf_counter() - t0, 1e-9):.1f} clips/s)")
    teacher.release()


def extract(
    ss: shards.ShardSet,
    handle,
    output_key="embedding",
    cache_dir=None,
    batch_size=32,
    runner="process",
    beam_options=None,
    progress=None,
):
    """Embed every shard of `ss` not yet embedded by the teacher `handle`; returns (targets folder, info:
    clips_embedded, cache_hits, teacher_calls, shards_embedded, seconds, runner)."""
    progress = progress or log.info
    if runner not in RUNNERS:
        raise TeacherError(f"unknown extraction runner '{runner}'; choose one of {list(RUNNERS)}")
    teacher = teacher_lib.Teacher(handle, output_key)
    tdir = ss.targets_dir(shards.target_key(teacher.identity, output_key, ss.clip_samples))
    os.makedirs(tdir, exist_ok=True)
    job = Job(
        ss.root,
        tdir,
        teacher.handle,
        output_key,
        os.path.abspath(cache_dir or os.path.join(tdir, "cache")),
        ss.clip_samples,
        batch_size,
    )
    done = ss.target_sidecars(tdir)
    todo = [n for n in ss.names if n not in done]
    t0 = time.perf_counter()
    if todo:
        progress(
            f"extract: {len(todo)} of {len(ss.names)} shards to embed ({runner}"
            f"{': ' + beam_options if runner == 'beam' and beam_options else ''}), teacher {teacher.handle}"
        )
        if runner == "beam":
            from pipeline import beam_extract  # apache-beam: only here

            beam_extract.run(
                job, embed_shard, [(n, ss.meta(n)["sha256"]) for n in todo], shlex.split(beam_options or "")
            )
        else:
            _run_in_process(job, todo, ss, progress)
    seconds = time.perf_counter() - t0
    sides = ss.target_sidecars(tdir)
    missing = [n for n in ss.names if n not in sides]
    if missing:
        raise TeacherError(f"extract: {len(missing)} shards have no embeddings after the run (first: {missing[0]})")
    new = [sides[n] for n in todo]
    info = {
        "clips_embedded": sum(s["computed"] for s in new),
        "cache_hits": sum(s["hits"] for s in new) + sum(sides[n]["clips"] for n in done),
        "teacher_calls": sum(s["calls"] for s in new),
        "shards_embedded": len(todo),
        "seconds": round(seconds, 2),
        "runner": runner,
        "targets": tdir,
        "identity": teacher.identity,
    }
    progress(
        f"extract: {info['clips_embedded']} clips embedded, {info['cache_hits']} already done "
        f"({info['teacher_calls']} teacher calls, {seconds:.1f} s); embeddings in {tdir}"
    )
    return tdir, info


def stand_in(ss: shards.ShardSet, path, seed=0):
    """Build the stand-in teacher at `path` if it is not there, calibrated on the first training clips
    (at most `STAND_IN_CALIBRATION`; on a task that small, every training clip, as the in-memory path)."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    calib, n = [], 0
    for name in ss.shards("train"):
        a = shards.read_clips(ss.path(name))["audio"]
        calib.append(a[: STAND_IN_CALIBRATION - n])
        n += len(calib[-1])
        if n >= STAND_IN_CALIBRATION:
            break
    log.info(f"building a stand-in teacher (TRILLsson's interface) at {path}")
    return teacher_lib.build_stand_in(path, np.concatenate(calib), seed=seed)


def decoder(runner, beam_options=None):
    """What decodes the audio files into shards for `runner`: None (this process) or Beam's decode pipeline."""
    if runner != "beam":
        return None

    def on_beam(root, planned, clip_samples):
        from pipeline import beam_extract  # apache-beam: only here

        beam_extract.decode(root, planned, clip_samples, shards.decode_shard, shlex.split(beam_options or ""))

    return on_beam


def streamed_targets(cfg, layout):
    """The shards path of a run: decode (`shards.write`), extract, and open the streamed corpus; returns
    (ShardedCorpus, targets.Targets with the test and validation embeddings)."""
    ss = shards.write(
        cfg.data,
        cfg.data.shards or layout.path("shards"),
        seed=cfg.seed,
        shard_clips=cfg.data.shard_clips,
        decoder=decoder(cfg.teacher.extract, cfg.teacher.beam_options),
    )
    handle, is_stand_in = cfg.teacher_handle, cfg.teacher_handle == STAND_IN
    if is_stand_in:
        handle = stand_in(ss, layout.teacher, seed=cfg.seed)
        log.warning(
            "NOTE: using a STAND-IN teacher, not TRILLsson (no network here). "
            "Pass --teacher trillsson3 (or a local TRILLsson folder) for the real one."
        )
    tdir, info = extract(
        ss,
        handle,
        cfg.teacher.output,
        cfg.teacher.cache or layout.teacher_cache,
        batch_size=cfg.train.batch_size,
        runner=cfg.teacher.extract,
        beam_options=cfg.teacher.beam_options,
    )
    c = ss.corpus(tdir, fraction=cfg.data.calibration_fraction, seed=cfg.seed, shuffle_buffer=cfg.data.shuffle_buffer)
    emb = {"test": c.test_targets}
    if c.validation is not None:
        emb["validation"] = c.validation_targets
    teacher = teacher_lib.Teacher(handle, cfg.teacher.output)
    teacher.calls = info["teacher_calls"]
    section = {
        "output": cfg.teacher.output,
        "identity": info["identity"],
        "clips_embedded": info["clips_embedded"],
        "cache_hits": info["cache_hits"],
        "teacher_calls": info["teacher_calls"],
        "cache": cfg.teacher.cache or layout.teacher_cache,
        "extraction": {k: info[k] for k in ("runner", "shards_embedded", "seconds", "targets")},
    }
    return c, targets.Targets(emb, c.train.dim, handle, is_stand_in, section, teacher)


def clips_and_targets(cfg, layout):
    """Stages 1-2 of a run in either data format: (corpus, targets.Targets). `shards`: decoded into shards,
    embedded shard by shard, streamed while training; `memory`: every clip decoded into memory."""
    if cfg.data.format == "shards":
        return streamed_targets(cfg, layout)
    from pipeline.corpus import load_corpus

    c = load_corpus(cfg.data, seed=cfg.seed).with_validation(cfg.data.calibration_fraction, seed=cfg.seed)
    return targets.teacher_targets(c, cfg, layout)


def call(argv=None, prog="brillsson extract") -> dict:
    """`python -m pipeline.extract [run flags]`: decode into shards and extract the teacher's embeddings;
    returns the teacher section of the report."""
    from pipeline import config
    from pipeline import log as log_setup
    from pipeline.errors import as_command

    def command():
        cfg = config.from_argv(argv, prog=prog, description=usage.summary(__doc__))
        log_setup.configure(quiet=cfg.quiet)
        from export.layout import Layout

        layout = Layout(cfg.out_dir)
        targets.check_teacher(cfg)
        c, t = streamed_targets(cfg, layout)
        return t.section()

    return as_command(command)


def main(argv=None) -> int:
    """The command: `call(argv)`, then exit status 0."""
    call(argv)
    return 0


if __name__ == "__main__":  # the module under its own name: Beam pickles `Job` by where it lives
    import sys
    from pipeline.extract import main as extract_main

    sys.exit(extract_main())
