"""Ownership ledger: an output folder of ``lipc bench build`` or ``lipc track`` holds only files
lipc wrote, and lipc deletes or overwrites only those (issue 19).

Why a ledger: both commands resume and prune, so they must tell their own files from a user's.
A name is no proof (the manifest's own folder holds ``networks/`` and ``README.md`` the user
wrote), so the folder keeps ``.lipc-owned``: an append-only journal of ``<sha256> <path>`` lines,
one per file lipc wrote.  A file is lipc's while its bytes hash to a value lipc recorded for its
path.  Opening a folder refuses it when anything else is there — a foreign or changed file, a
symlink, a sub-folder lipc does not make — so nothing of the user's is ever touched; the journal
is appended *before* each write (fsync'd), so a write killed half-way leaves either the old or
the new content, both recorded.  Symlinks are never followed (lstat, O_NOFOLLOW).
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from ..emit import is_temp_name, write_bytes
from ..errors import LipcError

LEDGER = ".lipc-owned"
_HEADER = "# lipc ownership ledger v1: files lipc wrote here (sha256 path); do not edit\n"
_LINE = re.compile(r"^([0-9a-f]{64}) ([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*)$")
_SHOWN = 5                      # foreign files named in the error message


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_nofollow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with open(fd, "rb") as fh:
        return fh.read()


class Ledger:
    """The files lipc owns in ``root``; only folders in ``subdirs`` may exist below it."""

    def __init__(self, root: Path, subdirs: tuple[str, ...], owned: dict[str, set[str]]):
        self.root, self.subdirs, self.owned = root, subdirs, owned

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, root: str | os.PathLike, subdirs: tuple[str, ...], what: str) -> "Ledger":
        """Check ``root`` (creating it and ``subdirs``), remove lipc's stale temp files, and
        return its ledger; LipcError when the folder holds anything lipc did not write."""
        root = Path(root)
        try:
            if root.exists() and not root.is_dir():
                raise LipcError(f"cannot write the {what} in {root}: it is not a folder")
            root.mkdir(parents=True, exist_ok=True)
            journal = cls._read_journal(root)
            ledger = cls(root, subdirs, {})
            foreign = ledger._scan(journal)
            if foreign:
                more = f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else ""
                raise LipcError(
                    f"{root} holds files lipc did not write ({', '.join(foreign[:_SHOWN])}{more});"
                    f" lipc never deletes or overwrites them: write the {what} to a new or "
                    f"empty folder")
            for sub in subdirs:
                (root / sub).mkdir(exist_ok=True)
            ledger._compact()
        except OSError as e:
            raise LipcError(f"cannot write the {what} in {root}: {e.strerror or e}") from e
        return ledger

    @staticmethod
    def _read_journal(root: Path) -> dict[str, set[str]]:
        path = root / LEDGER
        if not os.path.lexists(path):
            return {}
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise LipcError(f"{path} is not a lipc ownership ledger (not a regular file)")
        try:
            text = _read_nofollow(path).decode()
        except UnicodeDecodeError:
            text = ""
        lines = text.splitlines()
        if not lines or lines[0] + "\n" != _HEADER:
            raise LipcError(f"{path} is not a lipc ownership ledger")
        journal: dict[str, set[str]] = {}
        for line in lines[1:]:
            m = _LINE.match(line)
            if m is None or ".." in m.group(2).split("/"):
                continue            # a torn last line of a killed run, or damage: ignored
            journal.setdefault(m.group(2), set()).add(m.group(1))
        return journal

    def _scan(self, journal: dict[str, set[str]]) -> list[str]:
        """Fill ``owned`` with the files of ``journal`` still holding lipc's bytes; remove
        lipc's stale temp files; return everything else (relative names)."""
        foreign = []
        for rel, st in self._entries():
            if rel == LEDGER:
                continue
            if stat.S_ISDIR(st.st_mode) and rel in self.subdirs:
                continue
            if stat.S_ISREG(st.st_mode):
                if is_temp_name(os.path.basename(rel)):
                    os.unlink(self.root / rel)          # a write killed before its rename
                    continue
                if rel in journal:
                    digest = _sha(_read_nofollow(self.root / rel))
                    if digest in journal[rel]:
                        self.owned[rel] = {digest}
                        continue
                    foreign.append(f"{rel} (changed since lipc wrote it)")
                    continue
            foreign.append(rel + ("/" if stat.S_ISDIR(st.st_mode) else ""))
        return sorted(foreign)

    def _entries(self):
        """(relative name, lstat) of the root's entries and of its allowed sub-folders'."""
        for name in sorted(os.listdir(self.root)):
            st = os.lstat(self.root / name)
            yield name, st
            if name in self.subdirs and stat.S_ISDIR(st.st_mode):
                for sub in sorted(os.listdir(self.root / name)):
                    yield f"{name}/{sub}", os.lstat(self.root / name / sub)

    def _compact(self) -> None:
        lines = "".join(f"{h} {rel}\n" for rel in sorted(self.owned) for h in self.owned[rel])
        write_bytes(self.root / LEDGER, (_HEADER + lines).encode())

    def _append(self, rel: str, digest: str) -> None:
        fd = os.open(self.root / LEDGER, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
        with open(fd, "ab") as fh:
            fh.write(f"{digest} {rel}\n".encode())
            fh.flush()
            os.fsync(fh.fileno())

    # ------------------------------------------------------------------ use
    def _rel(self, path: Path) -> str:
        rel = Path(path).relative_to(self.root).as_posix()
        if not _LINE.match("0" * 64 + " " + rel):
            raise LipcError(f"lipc will not write {path}: not a plain file name")
        return rel

    def write(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` (inside the root) atomically, recording it first."""
        rel = self._rel(path)
        digest = _sha(data)
        if digest not in self.owned.get(rel, ()):
            self._append(rel, digest)
        write_bytes(path, data)
        self.owned[rel] = {digest}

    def owns(self, path: Path) -> bool:
        """``path`` is a regular file (not a link) whose bytes lipc wrote there."""
        rel = self._rel(path)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return False
            return _sha(_read_nofollow(path)) in self.owned.get(rel, ())
        except FileNotFoundError:
            return False

    def files(self, sub: str) -> list[Path]:
        """The owned files in the sub-folder ``sub``."""
        return [self.root / rel for rel in sorted(self.owned) if rel.startswith(sub + "/")]

    def remove(self, path: Path) -> None:
        """Delete ``path`` if (and only if) it still holds bytes lipc wrote there."""
        if self.owns(path):
            os.unlink(path)
        self.owned.pop(self._rel(path), None)
