"""A wall-clock deadline that long computations check cooperatively.

``--time-limit`` is the user's budget for the whole answer, not only for the MIP solver: a deep
or wide network can spend most of it in bound inference.  The deadline travels in a context
variable, so the bound walks see it without every signature between the command and the loop
carrying it.  Bound tightening is optional work (interval bounds are always sound), so at the
deadline it stops and says so, and the solver still gets its turn."""
from __future__ import annotations

import contextlib
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import TimeLimitError


@dataclass
class Deadline:
    at: float
    seconds: float
    notes: list[str] = field(default_factory=list)


_DEADLINE: ContextVar[Deadline | None] = ContextVar("lipc_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[Deadline | None]:
    """Within the block, :func:`expired` turns true once ``seconds`` have passed (None: never);
    yields the deadline, whose ``notes`` say what was cut short."""
    d = None if seconds is None else Deadline(time.perf_counter() + seconds, seconds)
    token = _DEADLINE.set(d)
    try:
        yield d
    finally:
        _DEADLINE.reset(token)


def expired() -> bool:
    d = _DEADLINE.get()
    return d is not None and time.perf_counter() > d.at


def check(where: str) -> None:
    """Raise TimeLimitError (for the caller that can stop cleanly) once the deadline passed."""
    if expired():
        raise TimeLimitError(f"the time limit of {_DEADLINE.get().seconds:g} s ran out while {where}")


def note(text: str) -> None:
    """Record what the deadline cut short (shown with the result)."""
    d = _DEADLINE.get()
    if d is not None and text not in d.notes:
        d.notes.append(text)
