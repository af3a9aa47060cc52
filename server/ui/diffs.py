"""How a proposal's change is shown: a word diff for text, the place of a number in
its column, the distances of a vector to its neighbours. Pure functions over the
values and the evidence the audit table holds; the page escapes what they return."""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

_WORDS = re.compile(r"\S+|\s+")


@dataclass(frozen=True)
class Piece:
    """A run of text: `same`, `removed` (only in the old value) or `added`."""

    change: str
    text: str


def word_diff(old: str | None, new: str | None) -> list[Piece]:
    """The two texts word by word, with whitespace kept as it was."""
    before, after = _WORDS.findall(old or ""), _WORDS.findall(new or "")
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(Piece("same", "".join(before[a0:a1])))
            continue
        if a1 > a0:
            pieces.append(Piece("removed", "".join(before[a0:a1])))
        if b1 > b0:
            pieces.append(Piece("added", "".join(after[b0:b1])))
    return pieces


def parse_vector(text: str | None) -> list[float] | None:
    """pgvector's text form, '[1,2,3]', as numbers; None when it is not one."""
    if not text or not (text.startswith("[") and text.endswith("]")):
        return None
    try:
        return [float(x) for x in text[1:-1].split(",") if x.strip()]
    except ValueError:
        return None


def euclidean(a: list[float], b: list[float]) -> float | None:
    if len(a) != len(b):
        return None
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


def vector_change(old: str | None, new: str | None, evidence: dict[str, Any]) -> dict[str, Any]:
    """How far the vector moves, and what the evidence says of its distance to its
    neighbours (and to its re-embedded text, when the repairer re-embedded it)."""
    before, after = parse_vector(old), parse_vector(new)
    moved = euclidean(before, after) if before is not None and after is not None else None
    neighbours = [n for n in evidence.get("neighbours", []) if isinstance(n, dict)]
    return {
        "dim": len(after or before or []),
        "moved": moved,
        "distance": evidence.get("distance"),
        "problem": evidence.get("problem"),
        "method": evidence.get("method"),
        "neighbour_distances": [n.get("distance") for n in neighbours if "distance" in n],
    }


def percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f}%"
