"""A CSR matrix for affine weights that must never be densified (convolutions, pooling,
selections), and weight helpers that treat dense, diagonal (1-D) and CSR weights alike.

The products and the transpose are scipy.sparse's compiled kernels (a CSR times a dense matrix
with k columns costs O(nnz * k) time and no temporary of that size; a hand-written numpy
product needed an (nnz, k) temporary: 7 GB for a CIFAR CNN's symbolic bounds).  The class keeps
lipc's own small interface on top: canonical construction (duplicates summed, zeros dropped,
columns sorted), elementwise sign parts, row/column restriction and COO export.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.sparse as sp


class CSR:
    ndim = 2

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 shape: tuple[int, int]):
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.data = np.asarray(data, dtype=np.float64)
        self.shape = (int(shape[0]), int(shape[1]))

    @cached_property
    def scipy(self) -> sp.csr_array:
        """The same matrix as a scipy CSR array (sharing the arrays)."""
        return sp.csr_array((self.data, self.indices, self.indptr), shape=self.shape)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_coo(cls, rows, cols, vals, shape) -> "CSR":
        """Duplicates are summed and explicit zeros dropped."""
        rows, cols = np.asarray(rows, np.int64).ravel(), np.asarray(cols, np.int64).ravel()
        vals = np.asarray(vals, np.float64).ravel()
        order = np.lexsort((cols, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        if rows.size:
            start = np.concatenate(([True], (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])))
            vals = np.add.reduceat(vals, np.flatnonzero(start))
            rows, cols = rows[start], cols[start]
            keep = vals != 0
            rows, cols, vals = rows[keep], cols[keep], vals[keep]
        counts = np.bincount(rows, minlength=shape[0])
        return cls(np.concatenate(([0], np.cumsum(counts))), cols, vals, shape)

    @classmethod
    def from_dense(cls, A: np.ndarray) -> "CSR":
        r, c = np.nonzero(A)
        return cls.from_coo(r, c, A[r, c], A.shape)

    @classmethod
    def block_diag(cls, W: np.ndarray, reps: int) -> "CSR":
        """diag(W, W, ..., W) with ``reps`` blocks."""
        r, c = np.nonzero(W)
        v = W[r, c]
        k = np.arange(reps)[:, None]
        return cls.from_coo((k * W.shape[0] + r).ravel(), (k * W.shape[1] + c).ravel(),
                            np.tile(v, reps), (reps * W.shape[0], reps * W.shape[1]))

    @classmethod
    def kron_identity(cls, W: np.ndarray, k: int) -> "CSR":
        """W (x) I_k: the map X -> W X on a row-major (n, k) matrix."""
        r, c = np.nonzero(W)
        v = W[r, c]
        j = np.arange(k)[None, :]
        return cls.from_coo((r[:, None] * k + j).ravel(), (c[:, None] * k + j).ravel(),
                            np.repeat(v, k), (W.shape[0] * k, W.shape[1] * k))

    # ------------------------------------------------------------------ views
    @property
    def nnz(self) -> int:
        return int(self.data.size)

    def row_ids(self) -> np.ndarray:
        return np.repeat(np.arange(self.shape[0], dtype=np.int64), np.diff(self.indptr))

    def coo(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.row_ids(), self.indices, self.data

    def with_data(self, data: np.ndarray) -> "CSR":
        keep = data != 0
        if keep.all():
            return CSR(self.indptr, self.indices, data, self.shape)
        r, c, _ = self.coo()
        return CSR.from_coo(r[keep], c[keep], data[keep], self.shape)

    @cached_property
    def T(self) -> "CSR":
        t = self.scipy.T.tocsr()          # CSC of self read as CSR: rows sorted, columns sorted
        t.sort_indices()
        return CSR(t.indptr, t.indices, t.data, t.shape)

    def toarray(self) -> np.ndarray:
        A = np.zeros(self.shape)
        r, c, v = self.coo()
        A[r, c] = v
        return A

    # ------------------------------------------------------------------ algebra
    def __matmul__(self, X: np.ndarray) -> np.ndarray:
        """Each output entry sums its row's products in column order (as the MIP rows do)."""
        return np.asarray(self.scipy @ np.asarray(X, dtype=np.float64))

    def select_columns(self, mask: np.ndarray) -> "CSR":
        r, c, v = self.coo()
        keep = mask[c]
        new_index = np.cumsum(mask) - 1
        return CSR.from_coo(r[keep], new_index[c[keep]], v[keep], (self.shape[0], int(mask.sum())))

    def select_rows(self, rows: np.ndarray) -> "CSR":
        rows = np.asarray(rows, np.int64)
        counts = np.diff(self.indptr)[rows]
        starts = self.indptr[rows]
        idx = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts) \
            + np.arange(int(counts.sum()))
        return CSR(np.concatenate(([0], np.cumsum(counts))), self.indices[idx], self.data[idx],
                   (rows.size, self.shape[1]))

    def scale_rows(self, d: np.ndarray) -> "CSR":
        return self.with_data(self.data * np.asarray(d, float)[self.row_ids()])


# ---------------------------------------------------------------------- weight helpers
# A weight is a dense 2-D array, a 1-D array (a diagonal) or a CSR matrix.

def positive_part(W):
    return W.with_data(np.maximum(W.data, 0.0)) if isinstance(W, CSR) else np.maximum(W, 0.0)


def negative_part(W):
    return W.with_data(np.minimum(W.data, 0.0)) if isinstance(W, CSR) else np.minimum(W, 0.0)


def absolute(W):
    return W.with_data(np.abs(W.data)) if isinstance(W, CSR) else np.abs(W)


def columns(W, mask: np.ndarray):
    """W restricted to the columns in boolean ``mask`` (2-D weights)."""
    return W.select_columns(mask) if isinstance(W, CSR) else W[:, mask]


def rows(W, idx: np.ndarray):
    return W.select_rows(idx) if isinstance(W, CSR) else W[idx]


def nonzero_rows(W) -> np.ndarray:
    """Boolean mask of the rows holding at least one nonzero (2-D weights)."""
    if isinstance(W, CSR):
        return np.diff(W.indptr) > 0
    return np.any(W != 0, axis=1)


def entries(W) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, values) of the nonzeros of a 2-D weight."""
    if isinstance(W, CSR):
        return W.coo()
    r, c = np.nonzero(W)
    return r, c, W[r, c]


def scale_rows(W, d: np.ndarray):
    return W.scale_rows(d) if isinstance(W, CSR) else d[:, None] * W


def nnz(W) -> int:
    return W.nnz if isinstance(W, CSR) else int(np.count_nonzero(W))
