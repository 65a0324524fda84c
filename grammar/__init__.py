"""The grammar of the lipc text language, shipped inside the package as ``lipc.grammar``.

``parser()`` returns the cached LALR(1) parser built from ``lipc.lark`` with
``Lark.open_from_package`` (so it works from a wheel as well as from a source checkout), with
positions on every tree node for error messages.  Statements end at a newline, except inside
brackets: the post-lexer below drops newlines while a ``(`` or ``[`` is open.
"""
from __future__ import annotations

from functools import lru_cache

from lark import Lark
from lark.lark import PostLex

GRAMMAR_FILE = "lipc.lark"

_OPEN = {"LPAR", "LSQB"}
_CLOSE = {"RPAR", "RSQB"}


class BracketNewlines(PostLex):
    """Drop end-of-line tokens inside brackets, so matrices and calls may span lines."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        for tok in stream:
            if tok.type in _OPEN:
                depth += 1
            elif tok.type in _CLOSE:
                depth = max(0, depth - 1)
            elif tok.type == "_NL" and depth:
                continue
            yield tok


@lru_cache(maxsize=None)
def parser() -> Lark:
    """The lipc parser (built once per process)."""
    return Lark.open_from_package(__name__, GRAMMAR_FILE, parser="lalr",
                                  propagate_positions=True, maybe_placeholders=True,
                                  postlex=BracketNewlines())
