"""One run per output folder: a second one stops at once; a dead run's lock is taken over."""

import os
import subprocess
import sys

import pytest

from pipeline.errors import OutputBusy
from pipeline.lock import OutputLock


def test_second_holder_is_refused_and_the_lock_is_released(tmp_path):
    with OutputLock(tmp_path) as held:
        assert open(held.path).read().strip() == str(os.getpid())
        with pytest.raises(OutputBusy, match=f"in use by another run \\(pid {os.getpid()}\\)"):
            OutputLock(tmp_path).__enter__()
    with OutputLock(tmp_path):  # released on exit
        pass


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    code = (
        "import os, signal, sys; sys.path.insert(0, sys.argv[2]); from pipeline.lock import OutputLock; "
        "OutputLock(sys.argv[1]).__enter__(); os.kill(os.getpid(), signal.SIGKILL)"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path), root], capture_output=True)
    assert p.returncode == -9 and os.path.exists(tmp_path / ".lock")  # a stale file, its pid dead
    with OutputLock(tmp_path):
        pass
