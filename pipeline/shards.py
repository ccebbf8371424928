"""The corpus on disk: clips decoded once into TFRecord shards that `tf.data` streams, so no stage
holds the training clips in memory.

```python
from pipeline import config, shards
cfg = config.from_argv(["--data", "data/keywords", "--data-format", "shards"])
ss = shards.write(cfg.data, "OUT/shards", seed=0)        # decodes what is not on disk yet; resumes
ss.counts()                                              # {"train": 960, "test": 240, ...}
# after `pipeline.extract` has written the teacher's embeddings of every shard:
c = ss.corpus(targets_dir, fraction=0.0, seed=0)         # a ShardedCorpus: every split read from disk
ds, val_ds, n = c.distillation().datasets(lambda emb, label: emb, batch_size=32, seed=0)
```
Layout of a shard folder:

    manifest.json              what was decoded from where: labels, skipped files, noise recordings, and
                               per shard its split, clip count, labels and SHA-256 (written after each shard)
    train-00000.tfrecord.json  the decode worker's sidecar of that shard (the same facts, and its sources)
    train-00000.tfrecord …     one tf.train.Example per clip: `audio` (int16 PCM at 16 kHz, little-endian),
                               `label` (-1: none), `split`, `id` (the file, or "path#piece"), `path`,
                               `piece`, `fingerprint` (path, size, mtime: what the teacher cache keys on)
    targets/<teacher key>/train-00000.tfrecord + .json
                               the teacher's embedding of every clip of that shard, in the same order, with the
                               same ids, and a sidecar (count, SHA-256, sum of squares) written last

Every shard and sidecar is written atomically (`export.files.atomic_write`) and checked against the
manifest (SHA-256, counts, ids) before it is trusted: a killed decode or extraction resumes at the
first shard it had not finished, and a corrupt shard is rewritten. The training splits (train,
unlabeled) are streamed (interleaved shards, a bounded shuffle buffer, prefetch); the test and
validation splits are read in order, a batch at a time, whenever they are scored or calibrated on
(`StreamedSplit`): only their labels, ids and teacher embeddings stay in memory.
"""

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from export.files import atomic_write, read_json, sha256
from pipeline import audio as audio_io
from pipeline import config, corpus, datasets
from pipeline.errors import DataError

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
TARGETS = "targets"
SPLITS = ("train", "validation", "test", "unlabeled")
FORMAT_VERSION = 1


class ShardError(DataError):
    """A shard folder that cannot be used as it is (another corpus, a missing or corrupt shard)."""


def _int16(x):
    return np.clip(np.round(np.asarray(x, np.float32) * 32768.0), -32768, 32767).astype("<i2")


def _example(audio, label, split, clip_id, path, piece, fp):
    import tensorflow as tf

    f = tf.train.Feature
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "audio": f(bytes_list=tf.train.BytesList(value=[_int16(audio).tobytes()])),
                "label": f(int64_list=tf.train.Int64List(value=[int(label)])),
                "split": f(bytes_list=tf.train.BytesList(value=[split.encode()])),
                "id": f(bytes_list=tf.train.BytesList(value=[clip_id.encode()])),
                "path": f(bytes_list=tf.train.BytesList(value=[path.encode()])),
                "piece": f(int64_list=tf.train.Int64List(value=[int(piece)])),
                "fingerprint": f(bytes_list=tf.train.BytesList(value=[fp.encode()])),
            }
        )
    ).SerializeToString()


def write_records(path, records):
    """Write serialized records to a TFRecord file atomically (temporary file, fsync, rename)."""
    import tensorflow as tf

    def fill(f):  # TFRecordWriter opens the temporary file by name; atomic_write fsyncs and renames it
        with tf.io.TFRecordWriter(f.name) as w:
            for r in records:
                w.write(r)

    return atomic_write(path, fill)


@dataclasses.dataclass(frozen=True)
class Planned:
    """One shard to write: its name, split and the source clips (or, for `unlabeled`, files)."""

    name: str
    split: str
    clips: Tuple[datasets.Clip, ...]


def plan(data, seed=0, shard_clips=1000):
    """(datasets.Dataset, [Planned]): the shards `data` decodes into, in a fixed order."""
    root = data.data or corpus.DEMO_DATA
    try:
        ds = datasets.scan(root, seed=seed)
    except (FileNotFoundError, ValueError) as e:
        raise DataError(str(e)) from None
    out = []
    for split in ("train", "validation", "test"):
        clips = ds.split(split)
        for i in range(0, len(clips), shard_clips):
            out.append(Planned(f"{split}-{i // shard_clips:05d}.tfrecord", split, tuple(clips[i : i + shard_clips])))
    if data.unlabeled:
        if not os.path.isdir(data.unlabeled):
            raise DataError(f"{data.unlabeled}: unlabelled audio folder does not exist")
        found, _ = datasets._walk(data.unlabeled)
        per = max(1, shard_clips // max(1, int(round(10 / data.clip_seconds))))  # files of ~10 s each
        for i in range(0, len(found), per):
            out.append(
                Planned(
                    f"unlabeled-{i // per:05d}.tfrecord",
                    "unlabeled",
                    tuple(datasets.Clip(p, corpus.UNLABELLED, "unlabeled") for p in found[i : i + per]),
                )
            )
    return ds, out


def _decode(p: Planned, clip_samples):
    """(serialized records, labels, skipped) of one planned shard."""
    paths = [c.path for c in p.clips]
    records, labels, skipped = [], [], []
    silent = [c.silent_ok for c in p.clips]
    for c, (path, x, err) in zip(p.clips, datasets._decode_all(paths, audio_io.SAMPLE_RATE, silent, None, None)):
        if err is not None:
            skipped.append({"path": err.path, "reason": err.reason})
            continue
        fp = datasets.fingerprint(path)
        if p.split == "unlabeled":
            pieces = max(1, int(round(len(x) / clip_samples)))
            for i in range(pieces):
                piece = audio_io.fit_length(x[i * clip_samples : (i + 1) * clip_samples], clip_samples)
                records.append(_example(piece, corpus.UNLABELLED, p.split, f"{path}#{i}", path, i, fp))
                labels.append(corpus.UNLABELLED)
        else:
            records.append(_example(audio_io.fit_length(x, clip_samples), c.label, p.split, path, path, -1, fp))
            labels.append(c.label)
    return records, labels, skipped


def _listing(p: Planned):
    """A planned shard's name and source files, one line: what the corpus key and a sidecar's source digest hash."""
    return f"{p.name}|" + "|".join(c.path for c in p.clips)


def _source(p: Planned):
    """A digest of the files a planned shard is made from: a decode worker's sidecar names what it decoded."""
    return hashlib.sha1(f"{_listing(p)}|{p.split}".encode()).hexdigest()


def decode_shard(root, p: Planned, clip_samples) -> dict:
    """Decode the clips of one planned shard and write the shard under `root`, then its sidecar
    (`<name>.json`: split, clip count, SHA-256, labels, skipped files, source digest), both atomically;
    returns the sidecar. What a decode worker does, in this process or on Beam (`beam_extract.decode`)."""
    records, labels, skipped = _decode(p, clip_samples)
    path = write_records(os.path.join(root, p.name), records)
    side = {
        "split": p.split,
        "clips": len(records),
        "sha256": sha256(path),
        "labels": labels,
        "skipped": skipped,
        "source": _source(p),
        "pid": os.getpid(),
    }
    atomic_write(path + ".json", json.dumps(side).encode())
    return side


def _decoded(root, p: Planned):
    """The sidecar of a shard a decode worker wrote, checked against the shard and its plan; None if absent
    or not trusted."""
    path = os.path.join(root, p.name)
    side = read_json(path + ".json")
    if (
        side is None
        or side.get("source") != _source(p)
        or not os.path.exists(path)
        or sha256(path) != side.get("sha256")
    ):
        return None
    return side


def _corpus_key(data, seed, shard_clips, ds, planned):
    files = hashlib.sha1("\n".join(_listing(p) for p in planned).encode())
    return config.key(
        data,
        extra={
            "seed": seed,
            "shard_clips": shard_clips,
            "labels": list(ds.labels),
            "files": files.hexdigest(),
            "version": FORMAT_VERSION,
        },
    )


def write(data, root, seed=0, shard_clips=1000, progress=None, decoder: Optional[Callable] = None) -> "ShardSet":
    """Decode the task `data` (a `config.DataConfig`) into shards under `root`, skipping every shard
    already written whole (listed in the manifest with a matching SHA-256). A folder made from other
    files or settings is rewritten. Returns the `ShardSet`.

    `decoder(root, planned, clip_samples)` decodes the shards still to do elsewhere (e.g. `beam_extract.decode`:
    workers run `decode_shard` and leave each shard's sidecar); this process then checks every sidecar and
    writes the manifest. Without it, the shards are decoded here, one after the other."""
    progress = progress or log.info
    root = os.path.abspath(str(root))
    os.makedirs(root, exist_ok=True)
    ds, planned = plan(data, seed, shard_clips)
    key = _corpus_key(data, seed, shard_clips, ds, planned)
    manifest_path = os.path.join(root, MANIFEST)
    m = read_json(manifest_path)
    if m is not None and m.get("key") != key:
        log.warning(f"shards: {root} holds another corpus or settings; it is rewritten")
        m = None
    if m is None:
        m = {
            "version": FORMAT_VERSION,
            "key": key,
            "root": ds.root,
            "labels": list(ds.labels),
            "clip_samples": data.clip_samples,
            "sample_rate": audio_io.SAMPLE_RATE,
            "rejected": list(ds.rejected),
            "warnings": list(ds.warnings),
            "noise": list(ds.noise),
            "shards": {},
            "complete": False,
        }
    for w in ds.warnings:
        log.warning(f"warning: {w}")
    t0, decoded = time.perf_counter(), 0
    todo = []
    for i, p in enumerate(planned):
        path = os.path.join(root, p.name)
        meta = m["shards"].get(p.name)
        if not (meta is not None and os.path.exists(path) and sha256(path) == meta["sha256"]):
            todo.append((i, p))
    if todo and decoder is not None:
        progress(f"shards: decoding {len(todo)} of {len(planned)} shards on the extraction runner")
        decoder(root, [p for _, p in todo], data.clip_samples)
    for k, (i, p) in enumerate(todo, 1):
        if decoder is None:
            side = decode_shard(root, p, data.clip_samples)
        else:
            side = _decoded(root, p)
            if side is None:
                raise ShardError(
                    f"{os.path.join(root, p.name)}: the decode workers left no shard that checks out "
                    "(missing, or its SHA-256 or sources differ from its sidecar); rerun the decode"
                )
        m["shards"][p.name] = {k_: side[k_] for k_ in ("split", "clips", "sha256", "labels", "skipped")} | {"index": i}
        atomic_write(manifest_path, json.dumps(m, indent=1).encode())  # after each shard: a kill loses one
        decoded += len(p.clips)
        if decoder is None:
            rate = decoded / max(time.perf_counter() - t0, 1e-9)
            progress(
                f"shards: {p.name} written ({side['clips']} clips; {k}/{len(todo)} shards to do, "
                f"{rate:.0f} files/s decoded)"
            )
    stale = set(m["shards"]) - {p.name for p in planned}
    for name in stale:
        del m["shards"][name]
    m["complete"] = True
    m["order"] = [p.name for p in planned]
    if decoded:  # this call's decoding throughput (the figures of the README)
        m["decode"] = {"files": decoded, "seconds": round(time.perf_counter() - t0, 2)}
    atomic_write(manifest_path, json.dumps(m, indent=1).encode())
    ss = ShardSet(root, m)
    counts = ss.counts()
    if not counts.get("train"):
        raise DataError(f"no usable training clips in {ds.root} ({len(ss.skipped)} files skipped)")
    log.info(
        f"shards: {sum(counts.values())} clips in {len(planned)} shards under {root} "
        f"({', '.join(f'{k} {v}' for k, v in counts.items())})"
    )
    return ss


def target_key(identity, output_key, clip_samples):
    """The folder name under targets/ for one teacher (its identity and output) and clip length."""
    return hashlib.sha1(json.dumps([identity, output_key, clip_samples]).encode()).hexdigest()[:16]


class ShardSet:
    """A finished shard folder (read side)."""

    def __init__(self, root, manifest=None):
        self.root = os.path.abspath(str(root))
        m = manifest if manifest is not None else read_json(os.path.join(self.root, MANIFEST))
        if not m or not m.get("complete"):
            raise ShardError(
                f"{self.root}: no finished shard folder (manifest.json missing or incomplete); "
                "write it with --data-format shards"
            )
        self.manifest = m
        self.labels = tuple(m["labels"])
        self.clip_samples = int(m["clip_samples"])
        self.names = [n for n in m["order"] if n in m["shards"]]

    def shards(self, split=None) -> List[str]:
        """Shard names of `split` (all when None), in corpus order."""
        return [n for n in self.names if split is None or self.manifest["shards"][n]["split"] == split]

    def meta(self, name):
        return self.manifest["shards"][name]

    def path(self, name):
        return os.path.join(self.root, name)

    def counts(self) -> Dict[str, int]:
        out = {}
        for n in self.names:
            s = self.meta(n)["split"]
            out[s] = out.get(s, 0) + self.meta(n)["clips"]
        return out

    @property
    def skipped(self):
        return list(self.manifest["rejected"]) + [s for n in self.names for s in self.meta(n)["skipped"]]

    def verify(self):
        """Check every shard against its SHA-256; raises ShardError naming the first that differs."""
        for n in self.names:
            if not os.path.exists(self.path(n)) or sha256(self.path(n)) != self.meta(n)["sha256"]:
                raise ShardError(f"{self.path(n)}: missing or differs from {MANIFEST}; rerun the decode")

    def targets_dir(self, key):
        return os.path.join(self.root, TARGETS, key)

    def target_sidecars(self, tdir) -> Dict[str, dict]:
        """{shard name: sidecar} of the shards whose embeddings are in `tdir` and check out (SHA-256 and
        count against the audio shard); shards missing or bad there are left out."""
        out = {}
        for n in self.names:
            side = read_json(os.path.join(tdir, n + ".json"))
            path = os.path.join(tdir, n)
            if (
                side is None
                or side.get("audio_sha256") != self.meta(n)["sha256"]
                or side.get("clips") != self.meta(n)["clips"]
                or not os.path.exists(path)
                or sha256(path) != side.get("sha256")
            ):
                continue
            out[n] = side
        return out

    def corpus(self, tdir, fraction=0.0, seed=0, noise=True, shuffle_buffer=1024) -> "ShardedCorpus":
        """The corpus training reads: train and unlabelled splits as `Stream`s, test and validation loaded;
        `fraction` of each label's training clips held out for calibration as `Corpus.with_validation`."""
        sides = self.target_sidecars(tdir)
        missing = [n for n in self.names if n not in sides]
        if missing:
            raise ShardError(
                f"{tdir}: no teacher embeddings for {len(missing)} shards (first: {missing[0]}); "
                "run the extraction (python -m pipeline.extract)"
            )
        dim = int(next(iter(sides.values()))["dim"])

        def stream(split, drop=()):
            names = self.shards(split)
            return Stream(
                tuple(self.path(n) for n in names),
                tuple(os.path.join(tdir, n) for n in names),
                tuple(self.meta(n)["clips"] for n in names),
                self.clip_samples,
                dim,
                sum(float(sides[n]["sum_sq"]) for n in names),
                frozenset(drop),
                shuffle_buffer,
            )

        train = stream("train")
        validation, test = stream("validation").split(), stream("test").split()
        if not len(validation[0]) and fraction:
            labels = np.asarray([lab for n in self.shards("train") for lab in self.meta(n)["labels"]], np.int64)
            held = corpus.validation_indices(labels, fraction, seed)
            if len(held):
                validation = train.split(keep=held)
                train = dataclasses.replace(
                    train,
                    drop=frozenset(int(i) for i in held),
                    sum_sq=train.sum_sq - float(np.sum(np.square(validation[1].astype(np.float64)))),
                )
        unlabeled = stream("unlabeled") if self.shards("unlabeled") else None
        noise_audio = []
        if noise and self.manifest["noise"]:
            noise_audio, _ = datasets.load_noise(self.manifest["noise"])
        return ShardedCorpus(
            self.manifest["root"],
            self.labels,
            train,
            test[0],
            test[1],
            validation[0] if len(validation[0]) else None,
            validation[1] if len(validation[0]) else None,
            unlabeled,
            tuple(noise_audio),
            tuple(self.skipped),
        )


_FEATURES = None


def _features():
    global _FEATURES
    if _FEATURES is None:
        import tensorflow as tf

        _FEATURES = {
            "audio": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64),
            "id": tf.io.FixedLenFeature([], tf.string),
        }
    return _FEATURES


def to_float(pcm):
    """int16 PCM → float32 in [-1, 1), as libsndfile reads 16-bit files."""
    import tensorflow as tf

    return tf.cast(pcm, tf.float32) / 32768.0


def parse_clip(record):
    """A serialized clip record → (float32 audio [samples] in [-1, 1], label int64, id string)."""
    import tensorflow as tf

    ex = tf.io.parse_single_example(record, _features())
    return to_float(tf.io.decode_raw(ex["audio"], tf.int16)), ex["label"], ex["id"]


def read_clips(path):
    """Every record of one audio shard, as numpy: {"audio" [n, samples] float32, "label", "id", "path",
    "piece", "fingerprint"} (for extraction workers: one shard at a time)."""
    import tensorflow as tf

    out = {k: [] for k in ("audio", "label", "id", "path", "piece", "fingerprint")}
    for rec in tf.data.TFRecordDataset(path).as_numpy_iterator():
        ex = tf.train.Example.FromString(rec).features.feature
        out["audio"].append(np.frombuffer(ex["audio"].bytes_list.value[0], "<i2").astype(np.float32) / 32768.0)
        for k in ("label", "piece"):
            out[k].append(ex[k].int64_list.value[0])
        for k in ("id", "path", "fingerprint"):
            out[k].append(ex[k].bytes_list.value[0].decode())
    out["audio"] = np.stack(out["audio"]) if out["audio"] else np.zeros((0, 0), np.float32)
    return out


def write_targets(tdir, name, audio_sha256, ids, embeddings, info=None):
    """Write one shard's teacher embeddings (same order and ids as the audio shard) and its sidecar,
    the sidecar last: a shard without a matching sidecar is not trusted."""
    import tensorflow as tf

    embeddings = np.asarray(embeddings, np.float32)
    f = tf.train.Feature
    records = [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "id": f(bytes_list=tf.train.BytesList(value=[i.encode()])),
                    "embedding": f(float_list=tf.train.FloatList(value=e)),
                }
            )
        ).SerializeToString()
        for i, e in zip(ids, embeddings)
    ]
    path = write_records(os.path.join(tdir, name), records)
    side = {
        "clips": len(ids),
        "dim": int(embeddings.shape[1]) if embeddings.ndim == 2 else 0,
        "sum_sq": float(np.sum(np.square(embeddings.astype(np.float64)))),
        "sha256": sha256(path),
        "audio_sha256": audio_sha256,
        **(info or {}),
    }
    atomic_write(os.path.join(tdir, name + ".json"), json.dumps(side).encode())
    return side


@dataclasses.dataclass(frozen=True)
class Stream:
    """Clips of some shards, in shard order, with their teacher embeddings; `drop` are positions left out."""

    audio_files: Tuple[str, ...]
    target_files: Tuple[str, ...]
    counts: Tuple[int, ...]
    clip_samples: int
    dim: int
    sum_sq: float
    drop: frozenset = frozenset()
    shuffle_buffer: int = 1024  # clips; a stream no longer than this is read in order (as in memory)

    def __len__(self):
        return sum(self.counts) - len(self.drop)

    def __add__(self, other: "Stream") -> "Stream":
        off = sum(self.counts)
        return Stream(
            self.audio_files + other.audio_files,
            self.target_files + other.target_files,
            self.counts + other.counts,
            self.clip_samples,
            self.dim,
            self.sum_sq + other.sum_sq,
            self.drop | {off + i for i in other.drop},
            self.shuffle_buffer,
        )

    def target_scale(self):
        """`distill.target_scale` of this stream's embeddings (one scalar to unit RMS), summed shard by shard."""
        return float(math.sqrt(self.sum_sq / max(1, len(self) * self.dim)) + 1e-12)

    def _kept(self):
        keep = np.ones(sum(self.counts), bool)
        keep[list(self.drop)] = False
        return keep

    def records(self, keep=None, in_order=True, seed=0, with_id=False):
        """tf.data of (int16 PCM, label, embedding[, id]) for the kept positions (`keep`: bool per position;
        default every position not dropped): compact, for the shuffle buffer (`to_float` makes the audio). In
        order, one shard after the other; else a seeded shard order, four shards interleaved by two threads."""
        import tensorflow as tf

        keep = self._kept() if keep is None else keep
        offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        files = tf.data.Dataset.from_tensor_slices(
            (list(self.audio_files), list(self.target_files), offsets, np.asarray(self.counts, np.int64))
        )
        if not in_order and len(self.counts) > 1:
            files = files.shuffle(len(self.counts), seed=seed)
        tparse = {
            "id": tf.io.FixedLenFeature([], tf.string),
            "embedding": tf.io.FixedLenFeature([self.dim], tf.float32),
        }

        def one(a, t, off, n):
            return tf.data.Dataset.zip(
                (tf.data.Dataset.range(off, off + n), tf.data.TFRecordDataset(a), tf.data.TFRecordDataset(t))
            )

        # fixed, small parallelism and prefetch (not AUTOTUNE, whose buffers may grow with the run)
        ds = (
            files.interleave(one, cycle_length=1)
            if in_order
            else files.interleave(one, cycle_length=min(4, len(self.counts)), num_parallel_calls=2, deterministic=True)
        )
        mask = tf.constant(keep)
        ds = ds.filter(lambda pos, a, t: tf.gather(mask, pos))

        def parse(pos, a, t):
            ex = tf.io.parse_single_example(a, _features())
            tt = tf.io.parse_single_example(t, tparse)
            with tf.control_dependencies(
                [tf.debugging.assert_equal(ex["id"], tt["id"], message="audio and target shards disagree on clip ids")]
            ):
                pcm = tf.ensure_shape(tf.io.decode_raw(ex["audio"], tf.int16), [self.clip_samples])
                out = pcm, ex["label"], tf.identity(tt["embedding"])
                return out + (tf.identity(ex["id"]),) if with_id else out

        return ds.map(parse) if in_order else ds.map(parse, num_parallel_calls=2, deterministic=True)

    def _mask(self, keep=None):
        """bool per position: the positions `keep` (indices among the kept clips; default all kept clips)."""
        kept = np.flatnonzero(self._kept())
        mask = np.zeros(sum(self.counts), bool)
        mask[kept if keep is None else kept[np.asarray(keep, np.int64)]] = True
        return mask

    def split(self, keep=None) -> Tuple["StreamedSplit", np.ndarray]:
        """(StreamedSplit, embeddings [n, dim]) of the positions `keep` (indices among the kept clips; default
        all): labels, ids and teacher embeddings in memory, the audio read from the shards whenever it is
        scored (the test and validation splits, which grow with the corpus)."""
        mask = self._mask(keep)
        labels, embs, ids = [np.zeros(0, np.int64)], [np.zeros((0, self.dim), np.float32)], []
        for _, y, e, i in self.records(mask, with_id=True).batch(1024).as_numpy_iterator() if mask.any() else ():
            labels.append(y)
            embs.append(e)
            ids += [x.decode() for x in i]
        return StreamedSplit(self, mask, np.concatenate(labels), tuple(ids)), np.concatenate(embs)

    def load(self, keep=None):
        """(Split, embeddings [n, dim]) of the positions `keep` (indices among the kept clips; default all) in
        memory (tests compare it with the in-memory path; a run scores a `split`)."""
        mask = self._mask(keep)
        xs, ys, es, ids = [], [], [], []
        import tensorflow as tf

        pos = 0
        for a, t, n in zip(self.audio_files, self.target_files, self.counts):
            if mask[pos : pos + n].any():
                clips = read_clips(a)
                emb = np.stack(
                    [
                        np.asarray(
                            tf.train.Example.FromString(r).features.feature["embedding"].float_list.value, np.float32
                        )
                        for r in tf.data.TFRecordDataset(t).as_numpy_iterator()
                    ]
                )
                sel = np.flatnonzero(mask[pos : pos + n])
                xs.append(clips["audio"][sel])
                ys.append(np.asarray(clips["label"], np.int64)[sel])
                es.append(emb[sel])
                ids += [clips["id"][i] for i in sel]
            pos += n
        if not xs:
            return corpus.Split.empty(self.clip_samples), np.zeros((0, self.dim), np.float32)
        return corpus.Split(np.concatenate(xs), np.concatenate(ys), tuple(ids)), np.concatenate(es)

    def datasets(self, targets: Callable, batch_size, seed=0, augment=None, val_fraction=0.0, deterministic=True):
        """(train tf.data, validation tf.data or None, train clips) for `distill`: elements (audio, targets(
        embedding, label)), a seeded `val_fraction` held out as `distill.holdout` holds out in-memory clips.

        With `shuffle_buffer` (a field) >= the clips, the shards are read in order and the batches equal those of
        the in-memory path; else a seeded shard order, four shards interleaved, a `shuffle_buffer` of clips.
        """
        import tensorflow as tf

        from pipeline.distill import holdout

        kept = np.flatnonzero(self._kept())
        train_i, val_i = holdout(len(kept), val_fraction, seed)
        shuffle_buffer = self.shuffle_buffer
        in_order = shuffle_buffer >= len(train_i)
        options = tf.data.Options()  # every worker reads every shard and takes its share of the clips
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA

        def mask(idx):
            m = np.zeros(sum(self.counts), bool)
            m[kept[idx]] = True
            return m

        def to_xy(pcm, label, emb):
            return to_float(pcm), targets(emb, label)

        # the count is known: Keras then runs epochs (and iterators) as it does over arrays
        ds = self.records(mask(train_i), in_order=in_order, seed=seed)
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(train_i)))
        ds = ds.shuffle(min(len(train_i), shuffle_buffer), seed=seed).map(to_xy)  # the buffer holds int16
        if augment:
            ds = ds.map(augment, num_parallel_calls=None if deterministic else 2)
        ds = ds.batch(batch_size).prefetch(2).with_options(options)
        val = None
        if len(val_i):
            val = self.records(mask(val_i)).apply(tf.data.experimental.assert_cardinality(len(val_i)))
            val = val.map(to_xy).batch(batch_size).prefetch(2).with_options(options)
        return ds, val, len(train_i)


@dataclasses.dataclass(frozen=True, eq=False)
class StreamedSplit:
    """A split scored from disk: `labels` and `ids` in memory, the audio read from the shards in order,
    `batches(size)` at a time, each time it is scored (`export.clips`): what `corpus.Split` is, without
    holding the audio.

    ```python
    test, test_embeddings = stream.split()
    for batch in test.batches(256):        # float32 [<= 256, samples]
        ...
    ```
    """

    stream: Stream
    mask: np.ndarray  # bool per position of `stream`
    labels: np.ndarray
    ids: Tuple[str, ...]

    def __len__(self):
        return len(self.ids)

    @property
    def clip_samples(self) -> int:
        return self.stream.clip_samples

    def _audio(self):
        return self.stream.records(self.mask).map(lambda pcm, label, emb: to_float(pcm))

    def batches(self, size=256):
        """The clips in order, float32 [<= size, samples] at a time."""
        if len(self):
            yield from self._audio().batch(size).prefetch(1).as_numpy_iterator()

    def head(self, n):
        """The first `n` clips, float32 [<= n, samples]."""
        got = list(self._audio().take(n).batch(max(1, n)).as_numpy_iterator()) if len(self) and n else []
        return got[0] if got else np.zeros((0, self.clip_samples), np.float32)


@dataclasses.dataclass(frozen=True)
class ShardedCorpus:
    """`corpus.Corpus` with every split on disk: `train` and `unlabeled` are `Stream`s (teacher
    embeddings included), `test` and `validation` `StreamedSplit`s (labels and teacher embeddings in
    memory, audio read when scored)."""

    root: str
    labels: Tuple[str, ...]
    train: Stream
    test: StreamedSplit
    test_targets: np.ndarray
    validation: Optional[StreamedSplit] = None
    validation_targets: Optional[np.ndarray] = None
    unlabeled: Optional[Stream] = None
    noise: Tuple[np.ndarray, ...] = ()
    skipped: Tuple[dict, ...] = ()
    streamed = True

    def distillation(self) -> Stream:
        """The clips the student distils on: train, then the unlabelled clips."""
        return self.train + self.unlabeled if self.unlabeled is not None else self.train

    def section(self):
        """report.json "data" (as `Corpus.section`, plus the format)."""
        return {
            "clips": len(self.train) + len(self.test) + (len(self.unlabeled) if self.unlabeled else 0),
            "train_clips": len(self.train),
            "test_clips": len(self.test),
            "validation_clips": len(self.validation) if self.validation is not None else 0,
            "unlabeled_clips": len(self.unlabeled) if self.unlabeled is not None else 0,
            "skipped": list(self.skipped),
            "labels": list(self.labels),
            "root": self.root,
            "format": "shards",
        }
