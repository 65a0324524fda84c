"""Emitters: write a :class:`~lipc.core.mip.FlatMIP` as a file any MIP solver reads the same way.

One table, :data:`WRITERS`, maps a file suffix to a writer ``(mip, binary stream) -> None``;
:func:`write` picks the writer by the longest matching suffix and writes atomically, so a crash or
a refused model never leaves a half-written file where a solver or a benchmark script would find
it.  Both formats state a *minimisation of the negated objective* (see notes/mip-file-formats.md
§0): negate the optimal value a solver reports to get the maximum of the original model.
"""
from __future__ import annotations

import gzip
import os
import re
import secrets
import stat
from typing import BinaryIO, Callable

from lipc.errors import LipcError
from lipc.core.mip import FlatMIP

from .lp import lp_chunks, write_lp
from .mps import mps_chunks, write_mps

Writer = Callable[[FlatMIP, BinaryIO], None]

GZIP_LEVEL = 1      # level 6 saves ~7% on MPS text but takes 4x as long (4 s for 85 MB)

__all__ = ["WRITERS", "write", "to_text", "write_mps", "write_lp", "gzipped", "atomic_write",
           "write_bytes", "remove_stale_temps", "is_temp_name"]


def gzipped(writer: Writer) -> Writer:
    """``writer`` behind deterministic gzip: no timestamp and no file name in the header, so the
    same model always gives the same bytes (libraries diff and hash their files)."""
    def write_gz(mip: FlatMIP, fh: BinaryIO) -> None:
        with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0,
                           compresslevel=GZIP_LEVEL) as gz:
            writer(mip, gz)
    write_gz.__doc__ = f"{writer.__name__}, gzip-compressed."
    return write_gz


WRITERS: dict[str, Writer] = {
    ".mps": write_mps,
    ".mps.gz": gzipped(write_mps),
    ".lp": write_lp,
    ".lp.gz": gzipped(write_lp),
}

_TEXT = {".mps": mps_chunks, ".lp": lp_chunks}


def write(mip: FlatMIP, path: str | os.PathLike) -> None:
    """Write ``mip`` to ``path`` in the format its suffix names (case-insensitive).

    Raises LipcError for an unknown suffix or an unwritable path, NumericError or LipcError for a
    model that cannot be written portably; in every case no file (and no temp file) is left.
    """
    writer = WRITERS[_suffix(os.fspath(path))]
    try:
        atomic_write(path, lambda fh: writer(mip, fh))
    except OSError as e:
        raise LipcError(f"cannot write {os.fspath(path)!r}: {e.strerror or e}") from e


def to_text(mip: FlatMIP, fmt: str) -> str:
    """The uncompressed file text for format ``".mps"`` or ``".lp"`` (the dot is optional)."""
    key = fmt if fmt.startswith(".") else "." + fmt
    if key not in _TEXT:
        raise LipcError(f"unknown text format {fmt!r}; supported: {', '.join(_TEXT)}")
    return "".join(_TEXT[key](mip))


def _suffix(path: str) -> str:
    """The longest key of WRITERS that ``path`` ends with."""
    matches = [s for s in WRITERS if path.lower().endswith(s)]
    if not matches:
        raise LipcError(f"cannot tell the file format of {path!r}; "
                        f"supported suffixes: {', '.join(WRITERS)}")
    return max(matches, key=len)


def atomic_write(path: str | os.PathLike, produce: Callable[[BinaryIO], None]) -> None:
    """Run ``produce`` on a temp file next to ``path``, fsync it, then rename it over ``path``.

    The rename is atomic on POSIX and Windows, so readers see either the old file or the complete
    new one; on any exception the temp file is removed.  The temp file is created with mode 0o666
    filtered by the umask, like a file opened normally.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):
        # a device or a pipe (/dev/null, /dev/stdout, a FIFO): renaming over it would replace
        # the special file itself, so stream into it instead
        if os.path.isdir(path):
            raise IsADirectoryError(21, "is a directory", path)
        with _open_special(path) as fh:
            produce(fh)
        return
    folder = os.path.dirname(os.path.abspath(path))
    _remove_stale_temps_of(folder, os.path.basename(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}{_TEMP}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with open(fd, "wb") as fh:
            produce(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


_TEMP = ".tmp"          # atomic_write's temp files: ".<name>.<12 hex digits>.tmp"
_TEMP_NAME = re.compile(r"^\.(.+)\.[0-9a-f]{12}\.tmp$")


def is_temp_name(name: str) -> bool:
    """``name`` is one of :func:`atomic_write`'s temp file names (and nothing else is)."""
    return _TEMP_NAME.match(name) is not None


def _remove_stale_temps_of(folder: str, target: str) -> None:
    """Delete the temp files of ``target`` a killed earlier write left (``kill -9`` runs no
    handler), so repeated interrupted writes cannot pile them up; only lipc's own temp names."""
    try:
        names = os.listdir(folder)
    except OSError:
        return              # the write itself reports the folder's problem
    for name in names:
        m = _TEMP_NAME.match(name)
        if m is not None and m.group(1) == target:
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def _open_special(path: str) -> BinaryIO:
    """Open a device or FIFO for writing; a FIFO nobody reads is an error, not a hang (opening
    it blocking would wait forever for a reader)."""
    if stat.S_ISFIFO(os.stat(path).st_mode):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            raise OSError(e.errno, "a FIFO with no reader", path) from None
        os.set_blocking(fd, True)
        return open(fd, "wb")
    return open(path, "wb")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """``data`` into ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(data))


def remove_stale_temps(folder: str | os.PathLike) -> None:
    """Delete the temp files :func:`atomic_write` leaves in ``folder`` when its process is
    killed mid-write (no exception handler runs then); resumable runs call this first."""
    for name in os.listdir(folder):
        if is_temp_name(name):
            os.unlink(os.path.join(folder, name))


def _fsync_dir(folder: str) -> None:
    """Make the rename itself durable (POSIX only: Windows cannot open a directory)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
