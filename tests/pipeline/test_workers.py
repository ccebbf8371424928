"""Training on several workers (pipeline.workers): TF_CONFIG, and two real worker processes on
loopback ports training one student with MultiWorkerMirroredStrategy from shards."""

import json
import os

import pytest

from pipeline import workers


def test_tf_config_names_the_cluster_and_the_task(monkeypatch):
    hosts = [f"localhost:{p}" for p in workers.free_ports(2)]
    assert len(set(hosts)) == 2
    monkeypatch.setenv("TF_CONFIG", workers.tf_config(hosts, 1))
    assert json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"] == hosts
    assert workers.task() == ("worker", 1, 2) and not workers.is_chief()
    monkeypatch.setenv("TF_CONFIG", workers.tf_config(hosts, 0))
    assert workers.is_chief()
    monkeypatch.delenv("TF_CONFIG")
    assert workers.task() == ("worker", 0, 1) and workers.is_chief()


@pytest.mark.slow
def test_two_workers_on_loopback_train_to_identical_weights(task_dir, stand_in_teacher, tmp_path):
    flags = [
        "--data",
        task_dir,
        "--teacher",
        stand_in_teacher,
        "--clip-seconds",
        "0.5",
        "--data-format",
        "shards",
        "--epochs",
        "2",
        "--head-epochs",
        "0",
        "--fine-tune-epochs",
        "0",
        "--val-fraction",
        "0",
        "--exits",
        "2",
        "--width",
        "8",
        "--depth",
        "1",
        "--quiet",
    ]
    results = workers.launch_local(2, flags, tmp_path, timeout=240, train_only=True)
    logs = [(tmp_path / f"worker-{k}.log").read_text() for k in range(2)]
    assert [r["returncode"] for r in results] == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    assert all("2 replica(s) (multiworker strategy" in text for text in logs)  # one cluster, not two runs
    digests = [r["weights_sha256"] for r in results]
    assert None not in digests and digests[0] == digests[1]
    assert all(len(r["epoch_seconds"]) == 2 for r in results)
