"""Slot values: the numbers and proper names that make two templated records different.

Embeddings see "Extract the person, company and amount from: Ingrid Berg, Seville, $24,950"
and the same template filled with other values as near-identical (cosine 0.95-0.99 with
MiniLM), while a true paraphrase of one question scores lower (0.82-0.93). Cosine alone cannot
separate them, so a semantic pair is confirmed only when the two records do not carry
clearly different slot values. Paraphrases keep their numbers and names; filled templates
change them.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
_NUMBER_PUNCT = str.maketrans("", "", ".,:/-")
# A capitalised word not at a sentence start: the character before the gap is neither a
# sentence end nor a role marker's ">" (and the gap is not a line break).
_NAME = re.compile(r"(?<=[^\s.!?:>])[ \t]+[\"'“‘(«]?([A-Z][a-z]\w*)")
_WORD = re.compile(r"\w+")
MIN_SLOT_OVERLAP = 0.5


def slot_values(text: str) -> frozenset[str]:
    """Numbers (digits only) and capitalised words that do not start a sentence, lowercased."""
    return _scan(text)[0]


def _scan(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(slot values, every word lowercased and every number as digits), by regex (C speed)."""
    numbers = {n.translate(_NUMBER_PUNCT) for n in _NUMBER.findall(text)}
    names = {n.lower() for n in _NAME.findall(text)}
    words = set(_WORD.findall(text.lower()))
    words |= numbers
    return frozenset(numbers | names), frozenset(words)


class Slots:
    """The slot values of one text, and its words (to tell a substitution from a re-casing)."""

    __slots__ = ("values", "words")

    def __init__(self, text: str) -> None:
        self.values, self.words = _scan(text)


def different_slots(a: Slots, b: Slots) -> bool:
    """True when each record has slot values the other lacks and most values differ.

    A value counts as different only when it is absent from the other text altogether, so a
    copy with other capitalisation, or with a sentence cut, is not "different"; only a
    substitution on both sides (a template filled with other values) is.
    """
    only_a = {v for v in a.values if v not in b.words}
    only_b = {v for v in b.values if v not in a.words}
    if not only_a or not only_b:
        return False
    union = len(a.values | b.values)
    return 1 - (len(only_a) + len(only_b)) / union < MIN_SLOT_OVERLAP
