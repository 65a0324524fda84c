"""``lipc solve --log FILE``: the solver's log kept in a file.  The file starts with a header line
so lipc can tell its own logs from a user's file: an existing FILE without it is refused (before
the solve), never overwritten."""
from __future__ import annotations

import os

from ..emit import write_bytes
from ..errors import LipcError

HEADER = "# lipc solver log"


def check(path: str | None) -> None:
    """Refuse ``path`` unless it is new or a log lipc wrote (so a typo cannot clobber a file)."""
    if path is None or not os.path.lexists(path):
        return
    try:
        with open(path, "rb") as fh:
            ours = os.path.isfile(path) and fh.read(len(HEADER)) == HEADER.encode()
    except OSError as exc:
        raise LipcError(f"--log {path}: {exc.strerror}") from None
    if not ours:
        raise LipcError(f"--log {path}: the file exists and is not a lipc solver log; "
                        "choose a new file name")


def write(path: str, solver: str, lines: list[str]) -> None:
    """The log atomically, after its header line naming the solver."""
    text = "\n".join([f"{HEADER} ({solver})", *lines]) + "\n"
    write_bytes(path, text.encode())
