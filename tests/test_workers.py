"""lipc.util.workers.Pool: one set of worker processes for a whole run, stopped at every end
(a normal one, an error, a SIGTERM turned into an interrupt) with none left behind."""
import multiprocessing
import os
import signal
import time

import pytest

from lipc.util.stopping import Interrupted, signals_interrupt
from lipc.util.workers import Parallelism, Pool


def _pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _fail(_: float) -> int:
    raise ValueError("a job's error")


def _gone(pids) -> bool:
    """No process of ``pids`` is running (joined workers are reaped: no zombie either)."""
    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return not any(alive(p) for p in pids)


def test_a_pool_keeps_its_workers_for_every_round():
    jobs = [(str(i), (0.01,)) for i in range(6)]
    with Pool(Parallelism(workers=2)) as pool:
        started = {p.pid for p in multiprocessing.active_children()}
        rounds = [{pid for _, pid in pool.run(_pid, jobs)} for _ in range(3)]
    assert len(started) == 2 and set().union(*rounds) <= started
    assert os.getpid() not in started and _gone(started)


def test_an_error_in_a_job_stops_every_worker():
    with pytest.raises(ValueError, match="a job's error"):
        with Pool(Parallelism(workers=2)) as pool:
            started = {p.pid for p in multiprocessing.active_children()}
            list(pool.run(_fail, [("a", (0.0,)), ("b", (0.0,))]))
    assert len(started) == 2 and _gone(started)


def test_sigterm_in_a_round_stops_the_running_jobs_at_once():
    """lipc's SIGTERM handler raises Interrupted in the driver; two 30 s jobs are running."""
    t0 = time.monotonic()
    with pytest.raises(Interrupted):
        with signals_interrupt(), Pool(Parallelism(workers=2)) as pool:
            started = {p.pid for p in multiprocessing.active_children()}
            for _ in pool.run(_pid, [("a", (0.0,)), ("b", (30.0,)), ("c", (30.0,))]):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5.0)              # the handler raises long before
    assert len(started) == 2 and _gone(started) and time.monotonic() - t0 < 5.0


def test_one_worker_runs_in_this_process_in_order():
    with Pool(Parallelism()) as pool:
        out = list(pool.run(_pid, [("a", (0.0,)), ("b", (0.0,))]))
    assert out == [("a", os.getpid()), ("b", os.getpid())]
