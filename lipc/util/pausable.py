"""A computation in a child process that can be paused and resumed: a solver measured for a while,
held while something else is measured, then continued or dropped.

Why a process: a MIP solver cannot save its tree and resume it later; restarting it from scratch
after a pause threw away its probe (lipc.bab.auto: the MIP alone proved the trained unit cube in
56 s, restarted after two 6 s probes it stopped at a gap of 7.9 %).  A forked child stopped with
SIGSTOP keeps its whole state and goes on at SIGCONT.  The child's own wall-clock limits keep
running while it is held, so the run's deadline stays where it was.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from multiprocessing.connection import wait as mp_wait
from typing import Any, Callable

from .stopping import child_signals


def _child(fn: Callable[..., Any], args: tuple, conn) -> None:
    child_signals()
    try:
        out = fn(lambda value: conn.send(("report", value)), *args)
        conn.send(("done", out))
    except BaseException as exc:            # noqa: BLE001 - the parent re-raises it
        try:
            conn.send(("raised", exc))
        except Exception:                   # an exception that does not pickle
            conn.send(("raised", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


class Pausable:
    """``fn(report, *args)`` run in a forked child (it inherits everything set up so far, so
    nothing is pickled on the way in); ``report(value)`` makes ``value`` the :attr:`latest`.
    Use as a context manager: at the exit the child is killed if it still runs."""

    def __init__(self, fn: Callable[..., Any], *args: Any):
        self.latest: Any = None
        self.outcome: tuple[str, Any] | None = None
        ctx = multiprocessing.get_context("fork")
        self._conn, w = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(fn, args, w), daemon=True,
                                 name="lipc-pausable")
        self._proc.start()
        w.close()

    def __enter__(self) -> "Pausable":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait(self, seconds: float | None) -> bool:
        """Wait until the child is done (True) or ``seconds`` have passed (False)."""
        end = None if seconds is None else time.perf_counter() + seconds
        while self.outcome is None:         # what arrived is taken in, even with seconds=0
            left = None if end is None else max(0.0, end - time.perf_counter())
            if not mp_wait([self._conn], timeout=left):
                return False
            try:
                kind, value = self._conn.recv()
            except (EOFError, OSError):
                self.outcome = ("raised", RuntimeError("the child process ended without a "
                                                       "result"))
                break
            if kind == "report":
                self.latest = value
            else:
                self.outcome = (kind, value)
        return True

    def result(self) -> Any:
        """The child's return value (after :meth:`wait` returned True); re-raises its error."""
        kind, value = self.outcome
        if kind == "raised":
            raise value
        return value

    def pause(self) -> None:
        """Hold the child (SIGSTOP) after taking in what it reported so far."""
        self.wait(0)
        if self._proc.is_alive():
            os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc.is_alive():
            os.kill(self._proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Kill the child (held or running) and reap it."""
        if self._proc.is_alive():
            self._proc.kill()                # SIGKILL also ends a held process
        self._proc.join()
        if not self._conn.closed:
            self._conn.close()
