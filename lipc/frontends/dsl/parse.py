"""Parsing lipc programs: text → lark tree (with positions), and errors that point at the source.

Syntax errors become :class:`~lipc.errors.DSLSyntaxError` with line, column, the source line with
a caret under the offending text and the readable list of what the grammar expected there.  Every
other error found while giving the tree a meaning is located with :func:`located`: a
:class:`~lipc.errors.LipcError` raised inside it gets the ``path:line:column`` of the expression
being evaluated (once: the innermost expression wins).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ...errors import DSLSyntaxError, LipcError
from ...grammar import parser

# how a terminal is named in "expected ..." (anonymous keywords and punctuation: their text)
_READABLE = {"NAME": "a name", "NUMBER": "a number", "INT": "an integer", "STRING": "a string",
             "NORM": "a norm (linf, l1, margin, ...)", "NUMLIST": "a list of numbers",
             "_NL": "end of line",
             "$END": "end of input"}


@dataclass
class Source:
    text: str
    path: str | None = None

    @property
    def name(self) -> str:
        return self.path or "<text>"

    def line(self, n: int) -> str:
        lines = self.text.splitlines()
        return lines[n - 1] if 1 <= n <= len(lines) else ""

    def snippet(self, tree: Tree) -> str:
        """The source text of a tree node."""
        meta = tree.meta
        if getattr(meta, "empty", True):
            return ""
        return " ".join(self.text[meta.start_pos:meta.end_pos].split())


def _readable(names) -> list[str]:
    p = parser()
    out = set()
    for name in names:
        if name in _READABLE:
            out.add(_READABLE[name])
            continue
        try:
            pattern = p.get_terminal(name).pattern
        except KeyError:
            out.add(name)
            continue
        out.add(f"'{pattern.value}'" if pattern.type == "str" else name.lower())
    return sorted(out)


def _describe(tok: Token) -> str:
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "$END":
        return "end of input"
    return f"{tok.value!r}"


def parse(text: str, path: str | None = None) -> Tree:
    """Parse a program; raises DSLSyntaxError with the offending line and a caret."""
    src = text if text.endswith("\n") else text + "\n"
    try:
        return parser().parse(src)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, Source(src, path)) from None


def _expected(exc: UnexpectedInput) -> list[str]:
    """What the parser accepts at the error: exactly (by trying each terminal on the interactive
    parser), not the LALR state's merged lookahead set."""
    ip = getattr(exc, "interactive_parser", None)
    if ip is not None:
        try:
            return _readable(ip.accepts())
        except Exception:                          # pragma: no cover - fall back to lark's set
            pass
    return _readable(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())


def _syntax_error(exc: UnexpectedInput, src: Source) -> DSLSyntaxError:
    width = 1
    expected = _expected(exc)
    if isinstance(exc, UnexpectedCharacters):
        message = f"syntax error: unexpected character {src.text[exc.pos_in_stream]!r}"
        line, col = exc.line, exc.column
    elif isinstance(exc, (UnexpectedToken, UnexpectedEOF)):
        tok = exc.token
        if tok.type in ("$END",) or tok.line is None or tok.line < 1:
            lines = src.text.splitlines() or [""]
            line, col = len(lines), len(lines[-1]) + 1
            message = "syntax error: unexpected end of input (a bracket left open?)"
        else:
            line, col = tok.line, tok.column
            message = f"syntax error: unexpected {_describe(tok)}"
            if tok.type != "_NL":
                width = max(1, len(str(tok.value)))
    else:  # pragma: no cover - lark has no other subclasses
        line, col, expected, message = exc.line, exc.column, [], "syntax error"
    source_line = src.line(line)
    return DSLSyntaxError(message, src.path, line, col, source_line, expected, width)


def position(node) -> tuple[int | None, int | None]:
    """(line, column) of a tree or token (None when it has no position)."""
    if isinstance(node, Token):
        return node.line, node.column
    if isinstance(node, Tree) and not getattr(node.meta, "empty", True):
        return node.meta.line, node.meta.column
    return None, None


@contextlib.contextmanager
def located(node, src: Source):
    """Prefix the location of ``node`` to a LipcError raised inside (unless it has one)."""
    try:
        yield
    except LipcError as exc:
        if getattr(exc, "located", False):
            raise
        line, col = position(node)
        exc.located = True
        if line is not None and getattr(exc, "line", None) is None:
            if hasattr(exc, "line"):
                exc.path, exc.line, exc.column = src.path, line, col
            exc.args = (f"{src.name}:{line}:{col}: {exc}",) + exc.args[1:]
        raise
