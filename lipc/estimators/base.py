"""Shared pieces of the estimators: the question being asked and the helpers they all use.

Every estimator is a function ``f(ctx: Context) -> (value, details)`` registered in
:data:`lipc.estimators.ESTIMATORS` with its guarantee kind: ``lower`` (a certified lower bound),
``upper`` (a certified upper bound), ``exact`` or ``heuristic``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..compiler.pipeline import CompileOptions, Problem, build_problem
from ..question.domain import Domain
from ..core.network import Network
from ..question.query import Query
from ..question.question import Question
from ..core.sparse import CSR

GUARANTEES = ("lower", "upper", "exact", "heuristic")


@dataclass
class Context:
    """One Lipschitz question about a network (as for lipc.solve) and the estimators'
    settings; the question's domain and query are resolved once, when first asked for."""

    network: Network
    question: Question
    samples: int = 1000                    # randomlb: number of random points
    seed: int = 0
    solve_options: object = None           # lipmip / liplp: a lipc.SolveOptions
    compile_options: CompileOptions | None = None
    _resolved: tuple[Domain, Query] | None = field(default=None, repr=False)

    def resolve(self) -> tuple[Domain, Query]:
        """The question's Domain and Query (resolved on the first call, then kept)."""
        if self._resolved is None:
            self._resolved = self.question.resolve(self.network)
        return self._resolved

    @property
    def domain(self) -> Domain:
        return self.resolve()[0]

    @property
    def query(self) -> Query:
        return self.resolve()[1]

    def settled_question(self) -> Question:
        """The question over its resolved domain (what a nested lipc.solve is given)."""
        return self.question.with_domain(self.domain)

    def problem(self, options: CompileOptions | None = None) -> Problem:
        return build_problem(self.network, self.domain, self.query,
                             options or self.compile_options)


def dense(W) -> np.ndarray:
    """A term weight as a dense 2-D matrix (a 1-D weight is a diagonal)."""
    if isinstance(W, CSR):
        out = np.zeros(W.shape)
        rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
        np.add.at(out, (rows, W.indices), W.data)
        return out
    W = np.asarray(W, dtype=np.float64)
    return np.diag(W) if W.ndim == 1 else W
