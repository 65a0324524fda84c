"""Run independent jobs in parallel (local processes or a Dask cluster) with a progress line.

``lipc bench build`` (one job per library instance) and ``lipc track`` (one job per checkpoint and
method) share this.  Jobs are ``(name, args)`` pairs for one module-level function, so they pickle
for worker processes and for Dask alike.  Results come back to the *driver*, which alone writes
files: a worker that dies, or a cluster node without the library's file system, can never leave a
partial file in the output, and the written bytes cannot depend on where a job ran.

Back ends are a table (:data:`BACKENDS`): ``serial`` (in this process, for one worker: simplest
tracebacks and no pickling), ``processes`` (``multiprocessing.Pool``: completion order, and
``terminate`` stops running solves at once on Ctrl-C) and ``dask`` (a
``distributed`` scheduler address, the ``cluster`` extra).  :class:`Pool` keeps one back end for a
whole run of many rounds of jobs (lipc.bab's batches); :func:`run_jobs` is one round.  Each
yields ``(name, result)`` as jobs finish; an interrupt cancels what has not started.
"""
from __future__ import annotations

import sys
import time
import multiprocessing
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, TextIO

from ..errors import LipcError
from .stopping import child_signals

Job = tuple[str, tuple]
CONNECT_TIMEOUT = "10s"          # to reach a Dask scheduler
SCHEMES = ("tcp", "tls")         # tls: with --tls-ca/--tls-cert/--tls-key (Dask's Security)


@dataclass(frozen=True)
class Parallelism:
    """Where jobs run: ``workers`` local processes, or the Dask scheduler at ``scheduler``.

    Trusted clusters only: jobs and results travel as pickles, so whoever can reach the
    scheduler (or pose as it) can run code on the driver and the workers.  ``tls://`` with a
    CA, a client certificate and its key (Dask's ``Security``) authenticates both ends."""

    workers: int = 1
    scheduler: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise LipcError(f"--workers must be at least 1, not {self.workers}")
        tls = (self.tls_ca, self.tls_cert, self.tls_key)
        if self.scheduler is None:
            if any(tls):
                raise LipcError("--tls-ca/--tls-cert/--tls-key need a tls:// --scheduler")
            return
        scheme, sep, rest = self.scheduler.partition("://")
        if not sep or not rest or scheme.lower() not in SCHEMES:
            raise LipcError(f"--scheduler {self.scheduler!r}: give a Dask scheduler address "
                            "tcp://host:8786 or tls://host:8786")
        if (scheme.lower() == "tls") != all(tls) or (any(tls) and not all(tls)):
            raise LipcError("a tls:// --scheduler needs all of --tls-ca, --tls-cert and "
                            "--tls-key, and only it takes them")

    def security(self):
        """Dask's ``Security`` for a tls:// scheduler, else None."""
        if self.tls_ca is None:
            return None
        from distributed.security import Security
        return Security(tls_ca_file=self.tls_ca, tls_client_cert=self.tls_cert,
                        tls_client_key=self.tls_key, require_encryption=True)

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


def _call(job: tuple[Callable[..., Any], str, tuple]) -> tuple[str, Any]:
    fn, name, args = job
    return name, fn(*args)


class _Serial:
    """One worker: jobs run in this process, one after the other."""

    def __init__(self, par: Parallelism, size: int):
        pass

    def run(self, fn, jobs: Sequence[Job]) -> Iterator[tuple[str, Any]]:
        for name, args in jobs:
            yield name, fn(*args)

    def close(self, abort: bool) -> None:
        pass


class _Processes:
    """``multiprocessing.Pool``, forked once: jobs go to the workers in the order given (each
    takes the next when it is free), results come back in completion order; ``terminate``
    stops running solves at once.  Forked workers inherit what the driver set up before the
    pool was opened (lipc.bab.search's shared network)."""

    def __init__(self, par: Parallelism, size: int):
        # not under lipc.util.stopping.deferred_signals: its lock, held while forking, would be
        # held in every worker for good (a node's solve takes it: a deadlock)
        self.pool = multiprocessing.Pool(processes=min(par.workers, size),
                                         initializer=child_signals)

    def run(self, fn, jobs: Sequence[Job]) -> Iterator[tuple[str, Any]]:
        return self.pool.imap_unordered(_call, [(fn, name, args) for name, args in jobs])

    def close(self, abort: bool) -> None:
        # an interrupt (or an error, or the caller closing an iterator): stop the workers now,
        # in the middle of their solves; nothing of theirs is written
        if abort:
            self.pool.terminate()
        else:
            self.pool.close()
        self.pool.join()


class _Dask:
    """One client of a ``distributed`` scheduler; earlier jobs get a higher priority."""

    def __init__(self, par: Parallelism, size: int):
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise LipcError("--scheduler needs Dask's 'distributed' package: "
                            "pip install 'lipc[cluster]'") from None
        try:
            self.client = Client(par.scheduler, timeout=CONNECT_TIMEOUT, security=par.security())
        except (OSError, TimeoutError, ValueError) as e:
            raise LipcError(f"cannot reach the Dask scheduler at {par.scheduler}: {e}") from None
        self.completed, self.sent = as_completed, 0

    def run(self, fn, jobs: Sequence[Job]) -> Iterator[tuple[str, Any]]:
        # pure=False: a job is never deduplicated against one of another run with equal args;
        # keys are unique within the client
        futures = [self.client.submit(fn, *args, pure=False, priority=len(jobs) - i,
                                      key=f"lipc-{name}-{self.sent + i}")
                   for i, (name, args) in enumerate(jobs)]
        self.sent += len(jobs)
        return self._results(futures, {f.key: name for f, (name, _) in zip(futures, jobs)})

    def _results(self, futures, names: dict) -> Iterator[tuple[str, Any]]:
        try:
            for fut in self.completed(futures):
                yield names[fut.key], fut.result()
        finally:
            self.client.cancel(futures)

    def close(self, abort: bool) -> None:
        self.client.close()


BACKENDS: dict[str, Callable[[Parallelism, int], Any]] = {
    "serial": _Serial, "processes": _Processes, "dask": _Dask}


class Pool:
    """The workers of a whole run, started once (a process pool was measured at ~0.1 s a
    start, which lipc.bab paid for every batch of a few nodes) and stopped on leaving the
    ``with`` block: gracefully after a normal end, at once (``terminate``) after any exception,
    a KeyboardInterrupt or lipc.util.stopping's SIGTERM / SIGHUP included, so no worker
    outlives the run.  ``size``: the most jobs ever run at once (no more processes than
    that are started)."""

    def __init__(self, par: Parallelism = Parallelism(), size: int | None = None):
        self.par = par
        self.backend = BACKENDS[par.backend](par, par.workers if size is None else max(1, size))

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self.backend.close(abort=kind is not None)

    def run(self, fn: Callable[..., Any], jobs: Sequence[Job],
            progress: Progress | None = None) -> Iterator[tuple[str, Any]]:
        """``fn(*args)`` for every ``(name, args)`` job, handed to the workers in this order
        (put the longest first: a long job started last leaves the other workers idle) and,
        with worker processes or Dask, at once: the caller may work while they run.  The
        iterator yields ``(name, result)`` as each ends."""
        return _advancing(self.backend.run(fn, jobs), progress)


def _advancing(results: Iterator[tuple[str, Any]], progress: Progress | None
               ) -> Iterator[tuple[str, Any]]:
    for name, result in results:
        if progress is not None:
            progress.advance(name)
        yield name, result


def run_jobs(fn: Callable[..., Any], jobs: Sequence[Job], par: Parallelism = Parallelism(),
             progress: Progress | None = None) -> Iterator[tuple[str, Any]]:
    """Run ``fn(*args)`` for every ``(name, args)`` job; yield ``(name, result)`` as each ends.

    The caller consumes results as they arrive (and writes them), so an interrupted run keeps
    every job that finished; closing the iterator cancels the rest.
    """
    if not jobs:
        return
    with Pool(par, len(jobs)) as pool:
        yield from pool.run(fn, jobs, progress)
