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
    """Numbers (digits only) and capitalised words that do not start a sentence."""
    out: set[str] = set()
    sentence_start = True
    for token in _TOKEN.findall(text):
        word = token.strip(_STRIP)
        if word:
            if any(ch.isdigit() for ch in word):
                out.add("".join(ch for ch in word if ch.isdigit()))
            elif word[0].isupper() and not sentence_start and not word.isupper():
                out.add(word.lower())
        sentence_start = token.endswith(_SENTENCE_END) or token.startswith("<")
    return frozenset(out)


def different_slots(a: frozenset[str], b: frozenset[str]) -> bool:
    """True when both records carry slot values and they mostly differ (a filled template)."""
    if not a or not b:
        return False
    return len(a & b) / len(a | b) < MIN_SLOT_OVERLAP
