"""The flat mixed-integer program: the hand-off point between lowering and every back end.

Lowering turns the annotated IR into plain numpy arrays so that emitters (MPS, LP) and solver
adapters never need to know about networks.  Rows are stored in CSR form because lowering produces
them row by row; writers that want columns (MPS) transpose once with :meth:`FlatMIP.columns`.
The objective is always *maximised*: that is the natural sense of a Lipschitz query; writers that
prefer a minimisation negate it themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class FlatMIP:
    """max obj·x + obj_const  s.t.  row_lo <= A x <= row_hi,  lb <= x <= ub,  x_j integer where
    ``integer[j]``.

    Rows are two-sided ranges: ``row_lo == row_hi`` is an equality, ``row_lo = -inf`` a ``<=`` row,
    ``row_hi = +inf`` a ``>=`` row (at most one side infinite; lowering never produces true ranges
    with both sides finite and different, but writers must accept them).
    """

    col_names: list[str]
    lb: np.ndarray            # float64, may be -inf
    ub: np.ndarray            # float64, may be +inf
    integer: np.ndarray       # bool
    obj: np.ndarray           # float64, maximised
    row_names: list[str]
    indptr: np.ndarray        # int64, CSR row pointers (len = n_rows + 1)
    indices: np.ndarray       # int64, column index of each nonzero
    data: np.ndarray          # float64, coefficient of each nonzero
    row_lo: np.ndarray        # float64
    row_hi: np.ndarray        # float64
    obj_const: float = 0.0
    name: str = "lipc"
    meta: dict = field(default_factory=dict)

    @property
    def n_cols(self) -> int:
        return len(self.col_names)

    @property
    def n_rows(self) -> int:
        return len(self.row_names)

    @property
    def nnz(self) -> int:
        return int(self.data.size)

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSC view (indptr, row indices, data) with row indices ascending inside each column."""
        rows = np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.indptr))
        order = np.lexsort((rows, self.indices))
        counts = np.bincount(self.indices, minlength=self.n_cols)
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return indptr, rows[order], self.data[order]

    def with_objective_floor(self, floor: float) -> "FlatMIP":
        """A copy with the row ``obj·x + obj_const >= floor``: only solutions at least as good
        as ``floor`` are feasible (a branch-and-bound node's cutoff at the incumbent, written as
        a row so that every back end prunes by it alike)."""
        nz = np.flatnonzero(self.obj)
        return replace(self, row_names=self.row_names + ["objective_floor"],
                       indptr=np.append(self.indptr, self.indptr[-1] + nz.size),
                       indices=np.concatenate([self.indices, nz.astype(self.indices.dtype)]),
                       data=np.concatenate([self.data, self.obj[nz]]),
                       row_lo=np.append(self.row_lo, floor - self.obj_const),
                       row_hi=np.append(self.row_hi, np.inf))

    def dense(self) -> np.ndarray:
        """Dense constraint matrix; for tests and tiny models only."""
        A = np.zeros((self.n_rows, self.n_cols))
        rows = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        np.add.at(A, (rows, self.indices), self.data)
        return A
