"""The installed `brillsson` console command, run as a shell script or CI job runs it: in a
subprocess, judged by its exit status and what it prints (the in-process tests call
`cli.call`, which returns results; the console script must not pass them to `sys.exit`)."""

import os
import subprocess
import sys

import pytest

from helpers import ROOT, tone_clip, write_wav


def console(*args, timeout=300):
    exe = os.path.join(os.path.dirname(sys.executable), "brillsson")
    assert os.path.exists(exe), f"{exe}: the console script is missing: pip install -e . installs it"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def python_m(module, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env
    )


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.slow
def test_a_subcommand_that_returns_a_result_exits_0_and_prints_only_its_answer(exported, tmp_path):
    _, out, _, _ = exported
    clip = write_wav(tmp_path / "c.wav", tone_clip(900, seconds=0.3))
    done = console("classify", out, clip, "--threshold", "0.3")
    assert done.returncode == 0, done.stderr
    assert "label: " in done.stdout and "exit: " in done.stdout
    assert "{'label'" not in done.stderr and "'probability'" not in done.stderr  # no result dict dumped


@pytest.mark.slow
def test_a_failing_subcommand_exits_1_with_one_error_line(tmp_path):
    clip = write_wav(tmp_path / "c.wav", tone_clip(900, seconds=0.3))
    done = console("classify", str(tmp_path / "no-such-run"), clip)
    assert done.returncode == 1
    errors = error_lines(done.stderr)
    assert len(errors) == 1 and "no-such-run" in errors[0]
    usage = console("classify")  # argparse's own usage error
    assert usage.returncode == 2 and "usage: brillsson classify" in usage.stderr


@pytest.mark.slow
def test_vectors_exits_0_and_the_run_script_exits_0(tmp_path):
    done = console("vectors", str(tmp_path / "v.json"))
    assert done.returncode == 0, done.stderr and os.path.getsize(tmp_path / "v.json") > 0
    assert done.stdout.strip() == str(tmp_path / "v.json")
    bad = subprocess.run(
        [sys.executable, os.path.join(ROOT, "pipeline", "run.py"), "--epochs", "-1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert bad.returncode == 1 and len(error_lines(bad.stderr)) == 1 and "epochs" in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "module,subcommand",
    [("pipeline.evaluate", "evaluate"), ("export.benchmark", "benchmark"), ("export.runtime", "classify")],
)
def test_a_module_that_used_to_be_a_command_names_the_subcommand_and_fails(module, subcommand):
    done = python_m(module)
    assert done.returncode == 2
    errors = error_lines(done.stderr)
    assert len(errors) == 1 and f"brillsson {subcommand}" in errors[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "subcommand",
    [
        "run",
        "extract",
        "workers",
        "scale-benchmark",
        "pareto",
        "frontend-benchmark",
        "speech-embedding-teacher",
        "ge2e-teacher",
        "transfer",
        "speech-corpus",
        "evaluate",
        "benchmark",
        "classify",
        "listen",
        "train-teacher",
        "vectors",
    ],
)
def test_every_job_is_a_subcommand_whose_help_exits_0(subcommand):
    done = console(subcommand, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: brillsson {subcommand}")
