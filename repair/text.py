"""Words: the in-domain vocabulary of trusted rows, a bundled English dictionary
(symspellpy's 82,765-word frequency list), out-of-vocabulary shares, and spelling
correction that never touches a word either of them knows.

Only alphabetic tokens of three letters or more are judged; everything between
them (spaces, punctuation, numbers, markup) is kept byte for byte.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from symspellpy import SymSpell, Verbosity

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
MIN_LENGTH = 3
MAX_DISTANCE = 2


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


@functools.cache
def dictionary() -> SymSpell:
    """The bundled English frequency dictionary, loaded once per process."""
    speller = SymSpell(max_dictionary_edit_distance=MAX_DISTANCE)
    path = importlib.resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    speller.load_dictionary(str(path), term_index=0, count_index=1)
    return speller


@dataclass(frozen=True)
class Vocabulary:
    """Word counts of the trusted rows; `min_count` keeps a stray typo in a
    trusted row from becoming a domain word."""

    counts: Counter[str]
    min_count: int = 2

    @classmethod
    def from_texts(cls, texts: Iterable[str | None], min_count: int = 2) -> Vocabulary:
        counts: Counter[str] = Counter()
        for text in texts:
            if text:
                counts.update(words(text))
        return cls(counts, min_count)

    def in_domain(self, word: str) -> bool:
        return self.counts.get(word.lower(), 0) >= self.min_count

    def knows(self, word: str) -> bool:
        lower = word.lower()
        return len(lower) < MIN_LENGTH or self.in_domain(lower) or lower in dictionary().words

    def unknown(self, text: str) -> list[str]:
        return [w for w in words(text) if not self.knows(w)]

    def oov_share(self, text: str) -> tuple[float, list[str]]:
        """Share of judged words that neither vocabulary knows, and those words."""
        judged = [w for w in words(text) if len(w) >= MIN_LENGTH]
        unknown = [w for w in judged if not self.knows(w)]
        return (len(unknown) / len(judged) if judged else 0.0), unknown


class SpellCorrector:
    """Corrects unknown words to the closest known word, preferring the domain's."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self._domain = SymSpell(max_dictionary_edit_distance=MAX_DISTANCE)
        for word, count in vocabulary.counts.items():
            if count >= vocabulary.min_count and len(word) >= MIN_LENGTH:
                self._domain.create_dictionary_entry(word, count)

    def correct(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        """The corrected text and its word-level diff (position = word index)."""
        pieces: list[str] = []
        diff: list[dict[str, Any]] = []
        last = 0
        for position, match in enumerate(WORD.finditer(text)):
            word = match.group()
            known = self.vocabulary.knows(word) or _proper_noun(text, match.start(), word)
            fix = None if known else self.suggest(word.lower())
            if fix is not None:
                new = _match_case(word, fix[0])
                pieces += [text[last : match.start()], new]
                last = match.end()
                diff.append({"position": position, "old": word, "new": new, "distance": fix[1]})
        pieces.append(text[last:])
        return "".join(pieces), diff

    def suggest(self, word: str) -> tuple[str, int] | None:
        found = [
            (s.distance, -int(source == "domain"), -s.count, s.term)
            for source, speller in (("domain", self._domain), ("dictionary", dictionary()))
            for s in speller.lookup(word, Verbosity.CLOSEST, MAX_DISTANCE)
        ]
        if not found:
            return None
        distance, _, _, term = min(found)
        return term, int(distance)


def _proper_noun(text: str, start: int, word: str) -> bool:
    """A capitalised word that does not start a sentence is left alone."""
    before = text[:start].rstrip()
    return word[0].isupper() and bool(before) and before[-1] not in ".!?\"'(>"


def _match_case(original: str, fix: str) -> str:
    if original.isupper() and len(original) > 1:
        return fix.upper()
    if original[0].isupper():
        return fix[:1].upper() + fix[1:]
    return fix
