"""The lipc error hierarchy.

Every mistake a user can make (a bad model file, an unsupported operator, a malformed domain, a
numeric problem in the weights) raises a subclass of :class:`LipcError`.  The command line catches
exactly this root class and prints one clean line; any other exception is a bug in lipc and keeps
its traceback.
"""
from __future__ import annotations


class LipcError(Exception):
    """Root of every error caused by user input rather than by a bug in lipc."""


class ModelError(LipcError):
    """The network file cannot be read, or describes something lipc cannot compile."""


class UnsupportedOpError(ModelError):
    """An operator (or a non-ReLU nonlinearity) that has no exact MIP encoding in lipc."""

    def __init__(self, op: str, node: str, supported: list[str], hint: str = ""):
        self.op, self.node = op, node
        msg = (f"unsupported ONNX operator {op!r} at node {node!r}; "
               f"supported: {', '.join(sorted(supported))}")
        super().__init__(msg + (f". {hint}" if hint else ""))


class ShapeError(LipcError):
    """Shapes of operands, domains or output selections do not agree."""


class NumericError(LipcError):
    """NaN/inf weights, or numbers no MIP solver can represent faithfully."""


class DomainError(LipcError):
    """The input domain is malformed, unbounded, empty or degenerate."""


class QueryError(LipcError):
    """The query (norm, output selection, option value) is not meaningful or not supported."""


class SolverError(LipcError):
    """The MIP solver failed, or returned an answer lipc cannot trust."""
