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

_TOKEN = re.compile(r"\S+")
_STRIP = "\"'“”‘’«»()[]{}<>,;:.!?*`"
_SENTENCE_END = (".", "!", "?", ":", ">", "\n")
MIN_SLOT_OVERLAP = 0.5


def slot_values(text: str) -> frozenset[str]:
    """Numbers (digits only) and capitalised words that do not start a sentence, lowercased."""
    return _scan(text)[0]


def _scan(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(slot values, every word lowercased and every number as digits)."""
    values: set[str] = set()
    words: set[str] = set()
    sentence_start = True
    for token in _TOKEN.findall(text):
        word = token.strip(_STRIP)
        if word:
            if any(ch.isdigit() for ch in word):
                digits = "".join(ch for ch in word if ch.isdigit())
                values.add(digits)
                words.add(digits)
            else:
                words.add(word.lower())
                if word[0].isupper() and not sentence_start and not word.isupper():
                    values.add(word.lower())
        sentence_start = token.endswith(_SENTENCE_END) or token.startswith("<")
    return frozenset(values), frozenset(words)


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
