"""Capture what C libraries print: solver libraries write to file descriptor 1, and lipc's own
stdout must stay clean (``--json``), so their lines are redirected to a callback."""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from typing import Callable


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
    The progress line is unaffected: lipc.solvers.base.Progress writes to its own copy of stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    saved = {}
    for fd in fds:
        saved[fd] = os.dup(fd)
        os.dup2(w, fd)
    os.close(w)

    def pump():
        with os.fdopen(r, "r", errors="replace") as f:
            for line in f:
                on_line(line.rstrip("\n"))

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        _flush_c_stdio()            # C stdio buffers a pipe: flush before switching back
        for fd, keep in saved.items():
            os.dup2(keep, fd)       # closes the pipe's last write end: the reader sees EOF
            os.close(keep)
        t.join(timeout=5)
