"""MIPLIB solution files (``<name>.sol``, the MIPLIB 2017 format) for a library's references.

    =obj= -0.2955678710569325
    v0_0 0.6672787492159796
    ...

One line ``=obj= VALUE`` (the objective in the file's own, minimisation sense: the ``.solu``
value), then ``NAME VALUE`` for every nonzero column, in the file's column order, values written
as the shortest text that reads back to the same float.  Why lipc writes them: a ``.solu`` value
alone cannot be checked by anyone else; with the solution, MIPLIB's ``solchecker`` (or HiGHS's
``readSolution``, SCIP's ``readSol``) re-checks feasibility and the value.  The values are the
ones lipc's exact check accepted, so every column the solver's vector does not name is the value
that check gave it (a fixed column such as the objective constant's ``ONE``: its bound).
"""
from __future__ import annotations

from pathlib import Path

from ...errors import LipcError
from .exact_check import MpsModel, solution_values


def sol_text(model: MpsModel, values: dict[str, float], objective: float) -> str:
    """The .sol file of ``values`` (column name -> value) on ``model``, whose objective there is
    ``objective``."""
    full = solution_values(model, values)
    lines = [f"=obj= {objective!r}"]
    lines += [f"{name} {float(v)!r}" for name, v in zip(model.col_names, full) if v != 0]
    return "\n".join(lines) + "\n"


def read_sol(path: str | Path) -> tuple[float, dict[str, float]]:
    """(objective, nonzero column values) of a MIPLIB .sol file; LipcError on a malformed line."""
    obj, values = None, {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) != 2:
                raise ValueError
            if parts[0] == "=obj=":
                obj = float(parts[1])
            else:
                values[parts[0]] = float(parts[1])
        except ValueError:
            raise LipcError(f"{path}:{n}: not a .sol line: {line!r}") from None
    if obj is None:
        raise LipcError(f"{path}: no =obj= line")
    return obj, values
