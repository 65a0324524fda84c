"""Run independent jobs in parallel (local processes or a Dask cluster) with a progress line.

``lipc bench build`` (one job per library instance) and ``lipc track`` (one job per checkpoint and
method) share this.  Jobs are ``(name, args)`` pairs for one module-level function, so they pickle
for worker processes and for Dask alike.  Results come back to the *driver*, which alone writes
files: a worker that dies, or a cluster node without the library's file system, can never leave a
partial file in the output, and the written bytes cannot depend on where a job ran.

Back ends are a table (:data:`BACKENDS`): ``serial`` (in this process, for one worker: simplest
tracebacks and no pickling), ``processes`` (``multiprocessing.Pool``: completion order, and
``terminate`` stops running solves at once on Ctrl-C) and ``dask`` (a
``distributed`` scheduler address, the ``cluster`` extra).  Each yields ``(name, result)`` as jobs
finish; an interrupt cancels what has not started.
"""
from __future__ import annotations

import sys
import time
import multiprocessing
import signal
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, TextIO

from ..errors import LipcError

Job = tuple[str, tuple]
CONNECT_TIMEOUT = "10s"          # to reach a Dask scheduler


@dataclass(frozen=True)
class Parallelism:
    """Where jobs run: ``workers`` local processes, or the Dask scheduler at ``scheduler``."""

    workers: int = 1
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise LipcError(f"--workers must be at least 1, not {self.workers}")
        if self.scheduler is not None and "://" not in self.scheduler:
            raise LipcError(f"--scheduler {self.scheduler!r}: give a Dask scheduler address "
                            "such as tcp://host:8786")

    @property
    def backend(self) -> str:
        if self.scheduler is not None:
            return "dask"
        return "serial" if self.workers == 1 else "processes"


class Progress:
    """``label 3/10 [######......] 30%  0:12 elapsed  ETA 0:28  last-job``.

    On a terminal the line is redrawn in place; otherwise (CI logs, pipes) one line is printed per
    finished job.  The ETA assumes the remaining jobs take the mean time of the finished ones.
    """

    WIDTH = 24

    def __init__(self, total: int, label: str, stream: TextIO | None = sys.stderr,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.label, self.stream, self.clock = total, label, stream, clock
        self.done = 0
        self.start = clock()
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def line(self, last: str = "") -> str:
        elapsed = self.clock() - self.start
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * round(frac * self.WIDTH) + "." * (self.WIDTH - round(frac * self.WIDTH))
        eta = (f"ETA {_clock(elapsed / self.done * (self.total - self.done))}"
               if self.done else "ETA ?")
        return (f"{self.label} {self.done}/{self.total} [{bar}] {frac:4.0%}  "
                f"{_clock(elapsed)} elapsed  {eta}  {last}").rstrip()

    def advance(self, name: str) -> None:
        self.done += 1
        if self.stream is None:
            return
        if self.tty:
            end = "\n" if self.done == self.total else ""
            self.stream.write("\r\033[K" + self.line(name) + end)
        else:
            self.stream.write(self.line(name) + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def _serial(fn, jobs: Sequence[Job], par: Parallelism) -> Iterator[tuple[str, Any]]:
    for name, args in jobs:
        yield name, fn(*args)


def _call(job: tuple[Callable[..., Any], str, tuple]) -> tuple[str, Any]:
    fn, name, args = job
    return name, fn(*args)


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the driver, which terminates them (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _processes(fn, jobs: Sequence[Job], par: Parallelism) -> Iterator[tuple[str, Any]]:
    pool = multiprocessing.Pool(processes=min(par.workers, len(jobs)), initializer=_ignore_sigint)
    try:
        yield from pool.imap_unordered(_call, [(fn, name, args) for name, args in jobs])
    except BaseException:
        # an interrupt (or an error, or the caller closing the iterator): stop the workers now,
        # in the middle of their solves; nothing of theirs is written
        pool.terminate()
        raise
    else:
        pool.close()
    finally:
        pool.join()


def _dask(fn, jobs: Sequence[Job], par: Parallelism) -> Iterator[tuple[str, Any]]:
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:
        raise LipcError("--scheduler needs Dask's 'distributed' package: "
                        "pip install 'lipc[cluster]'") from None
    try:
        client = Client(par.scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as e:
        raise LipcError(f"cannot reach the Dask scheduler at {par.scheduler}: {e}") from None
    futures = []
    try:
        # pure=False: a job is never deduplicated against one of another run with equal args
        futures = [client.submit(fn, *args, pure=False, key=f"lipc-{name}-{i}")
                   for i, (name, args) in enumerate(jobs)]
        names = {f.key: name for f, (name, _) in zip(futures, jobs)}
        for fut in dask_completed(futures):
            yield names[fut.key], fut.result()
    finally:
        client.cancel(futures)
        client.close()


BACKENDS: dict[str, Callable[..., Iterator[tuple[str, Any]]]] = {
    "serial": _serial, "processes": _processes, "dask": _dask}


def run_jobs(fn: Callable[..., Any], jobs: Sequence[Job], par: Parallelism = Parallelism(),
             progress: Progress | None = None) -> Iterator[tuple[str, Any]]:
    """Run ``fn(*args)`` for every ``(name, args)`` job; yield ``(name, result)`` as each ends.

    The caller consumes results as they arrive (and writes them), so an interrupted run keeps
    every job that finished; closing the iterator cancels the rest.
    """
    if not jobs:
        return
    for name, result in BACKENDS[par.backend](fn, jobs, par):
        if progress is not None:
            progress.advance(name)
        yield name, result
