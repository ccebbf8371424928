"""The teacher extraction as an Apache Beam pipeline (`pipeline.extract` with `runner="beam"`).

```python
from pipeline import beam_extract
beam_extract.decode("SHARDS", planned, 16000, shards.decode_shard, [])     # the audio files → shards
beam_extract.run(job, extract.embed_shard, [("train-00000.tfrecord", sha256), ...],
                 ["--runner", "DirectRunner", "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"])
```
Two pipelines. Decode: one element per planned shard (its audio files); each worker decodes its files
and writes the shard and a sidecar. Embed: one element per audio shard; `Reshuffle` spreads the shards
over the workers; each worker loads
the teacher once (`DoFn.setup`) and writes each shard's embeddings itself (atomically, with a
sidecar), so nothing flows back to the driver and a pipeline killed half-way resumes shard by
shard. On Dataflow, Flink or Spark the shard folder and the cache must be on a filesystem every
worker mounts (the workers open them by path). Needs the `beam` extra: `pip install -e ".[beam]"`.
"""

from typing import List, Sequence, Tuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

DEFAULT_OPTIONS = ["--runner", "DirectRunner", "--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


class EmbedShard(beam.DoFn):
    """(shard name, SHA-256) → (shard name, clips): the teacher loaded once per worker; `embed` is
    `pipeline.extract.embed_shard` (passed in: this module does not import its caller)."""

    def __init__(self, job, embed):
        self.job = job
        self.embed = embed

    def setup(self):
        from pipeline import teacher as teacher_lib
        from pipeline.cache import EmbeddingCache

        self.teacher = teacher_lib.Teacher(self.job.handle, self.job.output_key).load(self.job.clip_samples)
        self.cache = EmbeddingCache(self.job.cache_dir)

    def process(self, element):
        name, sha = element
        side = self.embed(self.job, name, sha, self.teacher, self.cache)
        yield name, side["clips"]

    def teardown(self):
        self.teacher = None


class DecodeShard(beam.DoFn):
    """A planned shard (`shards.Planned`: its name, split and source files) → its name: the worker decodes
    the files and writes the shard and its sidecar itself (`decode`, i.e. `shards.decode_shard`)."""

    def __init__(self, root, clip_samples, decode):
        self.root, self.clip_samples, self.decode = root, clip_samples, decode

    def process(self, planned):
        side = self.decode(self.root, planned, self.clip_samples)
        yield planned.name, side["clips"]


def decode(root, planned: Sequence, clip_samples: int, decode_fn, options: List[str]):
    """Decode the planned shards (`shards.Planned`) on Beam: one element per shard, spread over the workers,
    each reading the audio files of its shards and writing shard and sidecar under `root`."""
    opts = PipelineOptions(list(options) or DEFAULT_OPTIONS)
    with beam.Pipeline(options=opts) as p:
        _ = (
            p
            | "planned" >> beam.Create(list(planned))
            | "spread" >> beam.Reshuffle()
            | "decode" >> beam.ParDo(DecodeShard(root, clip_samples, decode_fn))
        )


def run(job, embed, todo: Sequence[Tuple[str, str]], options: List[str]):
    """Run the extraction of the shards `todo` with Beam pipeline `options` (default: the DirectRunner,
    2 worker processes); returns when every shard is written."""
    opts = PipelineOptions(list(options) or DEFAULT_OPTIONS)
    with beam.Pipeline(options=opts) as p:
        _ = (
            p
            | "shards" >> beam.Create(list(todo))
            | "spread" >> beam.Reshuffle()
            | "embed" >> beam.ParDo(EmbedShard(job, embed))
        )
