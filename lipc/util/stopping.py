"""Stopping cleanly on SIGTERM, SIGHUP and SIGINT, and never leaving a child process behind.

Why: lipc runs solvers and workers in child processes (``--solver race``, ``--workers N``).
Python's default SIGTERM / SIGHUP action kills the driver outright, skipping the ``finally``
blocks that stop those children, so they ran on at full CPU.  :func:`signals_interrupt` turns
the three signals into :class:`KeyboardInterrupt` in the driver, so every existing interrupt path
(terminate the pool, stop the racers, keep finished library instances) runs for all of them;
:func:`die_with_parent` makes a child die with its parent even when the parent cannot clean up
(``kill -9``), on Linux.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from typing import Iterator

SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, n))
_PR_SET_PDEATHSIG = 1


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; ``signum`` says which (exit status 128 + signum)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_defer = {"on": False, "pending": None}
_starting = threading.Lock()        # held while children are started (see deferred_signals)


def _raise(signum, frame) -> None:
    if _defer["on"]:
        _defer["pending"] = signum
        return
    raise Interrupted(signum)


GRACE = 3.0     # seconds the main thread gets to stop cleanly before a hard stop


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While inside, SIGTERM / SIGHUP / SIGINT raise :class:`Interrupted` in the main thread;
    the previous handlers come back on exit.

    A Python handler only runs between bytecodes, and a solver call (HiGHS, CBC) can hold the
    main thread in C for its whole time limit.  So the signal also wakes a watchdog thread
    (``signal.set_wakeup_fd``: written by the C-level handler at once); if the process has not
    left this block :data:`GRACE` seconds later, the watchdog kills every child process and
    exits with 128 + signum.  Files stay consistent either way (atomic writes)."""
    old = {}
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        for s in SIGNALS:
            old[s] = signal.signal(s, _raise)
        old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except ValueError:          # not the main thread: leave the handlers alone
        for s, h in old.items():
            signal.signal(s, h)
        os.close(r)
        os.close(w)
        yield
        return
    done = threading.Event()
    threading.Thread(target=_watchdog, args=(r, done), daemon=True,
                     name="lipc-signal-watchdog").start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(old_fd)
        for s, h in old.items():
            signal.signal(s, h)
        os.close(w)             # the watchdog reads end-of-file and returns


def _watchdog(r: int, done: threading.Event) -> None:
    try:
        while True:
            data = os.read(r, 1)
            if not data or done.wait(GRACE):
                return
            _hard_stop(data[0])
    finally:
        os.close(r)


def _hard_stop(signum: int) -> None:
    _starting.acquire(timeout=60)
    for p in multiprocessing.active_children():
        p.kill()
    sys.stderr.write("lipc: interrupted\n")
    sys.stderr.flush()
    os._exit(128 + signum)


def exit_status(exc: KeyboardInterrupt) -> int:
    """The shell's convention: 128 + the signal number (130 for Ctrl-C)."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold the stop signals while starting children: a signal in the middle of sending a
    child its (pickled) job left it a truncated pickle and a traceback.  A signal arriving
    inside is raised on leaving; the watchdog's hard stop waits too."""
    with _starting:
        _defer["on"] = True
        try:
            yield
        finally:
            _defer["on"] = False
    signum, _defer["pending"] = _defer["pending"], None
    if signum is not None:
        raise Interrupted(signum)


def child_signals() -> None:
    """In a worker or solver process: default SIGTERM / SIGHUP (the driver's ``terminate``
    must kill it), SIGINT ignored (Ctrl-C is the driver's to handle), and death with the
    parent."""
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN if s == signal.SIGINT else signal.SIG_DFL)
    die_with_parent()


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass
