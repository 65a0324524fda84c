"""Checking bounds against executions of the IR."""
import numpy as np

from lipc.core.interpret import evaluate
from lipc.core.ir import Conditional


def evaluate_as_compiled(p, X):
    """IR values at the points X (rows), with every conditional the bounds decided fixed to
    that decision: where its input is exactly 0 either value is allowed, and the compiled MIP
    uses the bounds' choice, so an execution must use it too."""
    g = p.graph
    fixed = {n: g.bounds[n] for n in g.nodes() if isinstance(g.op(n), Conditional)}
    names = {id(g.op(n)): n for n in fixed}

    def cond(op, vals):
        b = fixed[names[id(op)]]
        decided = (b.lo == b.hi)[:, None]
        return np.where(decided, b.lo[:, None], (vals[op.src] > 0).astype(float))

    return evaluate(g, {p.network.input: X.T}, rules={Conditional: cond})


def assert_bounds_contain(p, X):
    """Every node value at the points X (rows) lies inside its bounds."""
    for name, v in evaluate_as_compiled(p, X).items():
        b = p.graph.bounds[name]
        assert np.all(v >= b.lo[:, None]) and np.all(v <= b.hi[:, None]), (name, b.source)
