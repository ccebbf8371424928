"""The scale benchmark's parts: a corpus replicated by links, a child's own peak memory."""

import os

import pytest

from pipeline import datasets
from pipeline.tools import scale_benchmark


def test_replicate_links_every_file_times_over(task_dir, tmp_path):
    n = scale_benchmark.replicate(task_dir, tmp_path / "x3", times=3)
    ds, big = datasets.scan(task_dir), datasets.scan(str(tmp_path / "x3"))
    assert n == 3 * len(ds.clips) == len(big.clips) and big.labels == ds.labels
    assert len(big.split("test")) == 3 * len(ds.split("test"))
    assert all(os.path.islink(c.path) for c in big.clips)
    assert scale_benchmark.replicate(task_dir, tmp_path / "x3", times=3) == n  # again: nothing new, no error


@pytest.mark.slow
def test_peak_memory_is_the_childs_own(tmp_path):
    rc, _, small = scale_benchmark.peak_memory(["-c", "pass"], tmp_path / "a.log")
    rc2, _, big = scale_benchmark.peak_memory(
        ["-c", "x = bytearray(300 * 2**20); x[::4096] = b'1' * len(x[::4096])"], tmp_path / "b.log"
    )
    assert rc == rc2 == 0 and big - small > 250 and small < 100
