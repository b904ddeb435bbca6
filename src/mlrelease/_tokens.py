"""The tokenizer of mlrelease's two small expression languages: gates and release checks.

Both read numbers, metric names, ``+ - * / ( ) .`` and comparison operators; they
differ only in which comparisons they accept and in how they report an error,
which the caller passes in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal, TypeAlias

__all__ = ["Token", "TokenKind", "tokenize"]

TokenKind: TypeAlias = Literal["number", "name", "compare", "symbol", "end"]

_NUMBER: Final = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
# A number glued to more word characters ("1e", "0.5x", "1.2.3") is a typo.
_GLUED: Final = re.compile(r"[A-Za-z0-9_.]+", re.ASCII)


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    column: int  # 1-based, as people count


@lru_cache(maxsize=4)
def _pattern(comparisons: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so ">=" is never read as ">" then "=".
    compare = "|".join(re.escape(op) for op in sorted(comparisons, key=len, reverse=True))
    return re.compile(
        rf"(?P<space>\s+)|(?P<number>{_NUMBER})|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
        rf"|(?P<compare>{compare})|(?P<symbol>[-+*/().])",
        re.ASCII,
    )


def tokenize(
    text: str,
    *,
    comparisons: Sequence[str],
    fail: Callable[[int, str], Exception],
) -> Iterator[Token]:
    """Tokens on demand, so a parser reports the leftmost problem first.

    ``fail(column, problem)`` builds the error to raise for a character or a
    number that cannot be read.
    """
    pattern = _pattern(tuple(comparisons))
    position = 0
    while position < len(text):
        match = pattern.match(text, position)
        if match is None or match.lastgroup is None:
            char = text[position]
            hint = " (did you mean '=='?)" if char == "=" else ""
            raise fail(position + 1, f"unexpected character {char!r}{hint}")
        kind = match.lastgroup
        glued = _GLUED.match(text, match.end())
        if kind == "number" and glued is not None:
            raise fail(position + 1, f"malformed number {text[position : glued.end()]!r}")
        if kind != "space":
            yield Token(_kind(kind), match.group(), position + 1)
        position = match.end()
    yield Token("end", "", len(text) + 1)


def _kind(group: str) -> TokenKind:
    match group:
        case "number" | "name" | "compare" | "symbol":
            return group
    raise AssertionError(f"unhandled token group {group!r}")
