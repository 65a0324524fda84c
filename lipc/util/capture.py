"""Capture what C libraries print: solver libraries write to file descriptor 1, and lipc's own
stdout must stay clean (``--json``), so their lines are redirected to a callback."""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from typing import Callable

from .stopping import deferred_signals


def _flush_c_stdio() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def captured_stdout(on_line: Callable[[str], None], fds: tuple[int, ...] = (1,)):
    """Redirect C-level stdout (and stderr with ``fds=(1, 2)``) into a pipe read by a thread
    calling ``on_line`` per line.

    Solver libraries print to file descriptor 1; lipc's stdout must stay clean (``--json``).
    The progress line is unaffected: lipc.solvers.base.Progress writes to its own copy of stderr.

    The swap of the descriptors, in and out, holds the stop signals (lipc.util.stopping): a
    Ctrl-C landing between the redirect and the ``try`` (or inside the restore) left fd 1 on the
    pipe, so the run's result went to the reader thread and lipc exited 0 having printed nothing
    (measured: about 1 interrupted ``lipc solve --engine bab --json`` in 8)."""
    saved: dict[int, int] = {}
    reader = None
    try:
        with _signals_held():
            sys.stdout.flush()
            sys.stderr.flush()
            r, w = os.pipe()
            for fd in fds:
                saved[fd] = os.dup(fd)
                os.dup2(w, fd)
            os.close(w)
            reader = threading.Thread(target=_pump, args=(r, on_line), daemon=True)
            reader.start()
        yield
    finally:
        with _signals_held():
            sys.stdout.flush()
            sys.stderr.flush()
            _flush_c_stdio()            # C stdio buffers a pipe: flush before switching back
            for fd, keep in saved.items():
                os.dup2(keep, fd)       # closes the pipe's last write end: the reader sees EOF
                os.close(keep)
        if reader is not None:
            reader.join(timeout=5)


def _pump(r: int, on_line: Callable[[str], None]) -> None:
    with os.fdopen(r, "r", errors="replace") as f:
        for line in f:
            on_line(line.rstrip("\n"))


def _signals_held():
    """Stop signals deferred on the main thread (where they are delivered); elsewhere nothing
    to hold."""
    if threading.current_thread() is threading.main_thread():
        return deferred_signals()
    return contextlib.nullcontext()
