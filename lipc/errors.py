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
    """Operators (or non-ReLU nonlinearities) that have no exact MIP encoding in lipc.

    Carries every offending node at once, so a user fixes the model in one round trip.
    """

    def __init__(self, nodes: list[tuple[str, str, bool]], supported: list[str], hint: str = ""):
        """``nodes``: (op_type, node name, is a smooth activation) for each offending node."""
        self.nodes = nodes
        parts = []
        for op, node, smooth in nodes:
            why = (" (not piecewise linear: no exact MIP encoding exists; lipc compiles ReLU "
                   "networks)" if smooth else "")
            parts.append(f"{op!r} at node {node!r}{why}")
        super().__init__(f"unsupported ONNX operator{'s' if len(nodes) > 1 else ''} "
                         f"{'; '.join(parts)}. Supported: {', '.join(supported)}"
                         + (f". Or {hint}" if hint else ""))


class ShapeError(LipcError):
    """Shapes of operands, domains or output selections do not agree."""


class NumericError(LipcError):
    """NaN/inf weights, or numbers no MIP solver can represent faithfully."""


class DomainError(LipcError):
    """The input domain is malformed, unbounded, empty or degenerate."""


class QueryError(LipcError):
    """The query (norm, output selection, option value) is not meaningful or not supported."""


class TimeLimitError(LipcError):
    """The time limit ran out before there was anything to report (e.g. during compilation)."""


class SolverError(LipcError):
    """The MIP solver failed, or returned an answer lipc cannot trust."""


class DSLError(LipcError):
    """A mistake in a lipc program (.lipc), located at ``path:line:column`` of the source."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 column: int | None = None):
        self.path, self.line, self.column = path, line, column
        where = f"{path or '<text>'}:{line}:{column}: " if line is not None else ""
        super().__init__(where + message)


class DSLSyntaxError(DSLError):
    """The text does not follow the grammar: the message shows the line with a caret under the
    offending text and says what was expected there (it spans several lines)."""

    def __init__(self, message: str, path: str | None, line: int, column: int,
                 source_line: str, expected: list[str], width: int = 1):
        self.expected, self.source_line = expected, source_line
        pad = "".join(ch if ch == "\t" else " " for ch in source_line[:max(column - 1, 0)])
        want = f"; expected {', '.join(expected)}" if expected else ""
        super().__init__(f"{message}{want}\n    {source_line}\n    {pad}{'^' * max(width, 1)}",
                         path, line, column)


class DSLNameError(DSLError):
    """A name used before it is defined, defined twice, or not a known function."""


class DSLShapeError(DSLError, ShapeError):
    """Operand shapes of an expression do not agree."""
