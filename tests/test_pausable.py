"""lipc.util.pausable: a child computation held (SIGSTOP), resumed or killed (lipc.bab.auto's MIP)."""
import os
import time

import pytest

from lipc.util.pausable import Pausable


def counting(report, n):
    for i in range(n):
        report(i)
        time.sleep(0.01)
    return "done"


def failing(report):
    raise ValueError("boom")


def test_a_held_child_makes_no_progress_and_goes_on_when_resumed():
    with Pausable(counting, 150) as job:
        assert not job.wait(0.3)
        job.pause()
        held = job.latest
        time.sleep(0.5)
        job.wait(0)
        assert held is not None and job.latest - held <= 1     # at most one in flight
        job.resume()
        assert job.wait(30)
        assert job.result() == "done" and job.latest == 149


def test_the_childs_error_is_raised_in_the_parent():
    with Pausable(failing) as job:
        assert job.wait(30)
        with pytest.raises(ValueError, match="boom"):
            job.result()


def test_stop_kills_a_held_child():
    job = Pausable(counting, 10 ** 6)
    job.wait(0.2)
    job.pause()
    pid = job._proc.pid
    job.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
