"""Slot values: the numbers and proper names that make two templated records different.

Embeddings see "Extract the person, company and amount from: Ingrid Berg, Seville, $24,950"
and the same template filled with other values as near-identical (cosine 0.95-0.99 with
MiniLM), while a true paraphrase of one question scores lower (0.82-0.93). Cosine alone cannot
separate them, so a semantic pair is confirmed only when the two records do not carry
clearly different slot values. Paraphrases keep their numbers and names; filled templates
change them.

Two kinds of slot decide by themselves, however much else the texts share (code answers
share most of their identifiers and numbers):

- the programming language: "Fibonacci in C++" and "Fibonacci in Java" are two tasks (named
  in the text, or as a code fence's tag);
- the rank asked for: "the second highest salary" is not "the highest salary", nor "the
  lowest" (superlatives, in classes of synonyms, with their ordinal: ``2:max``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
# On ASCII text \d is [0-9]: the same matches, ~1.5x faster (a character set, no category).
_NUMBER_ASCII = re.compile(r"[0-9]+(?:[.,:/-][0-9]+)*")
_NUMBER_PUNCT = str.maketrans("", "", ".,:/-")
# A capitalised word not at a sentence start: the character before the gap is neither a
# sentence end nor a role marker's ">" (and the gap is not a line break). Written as "a space
# or tab whose previous character qualifies" (``(?<=[^\s.!?:>])[ \t]+`` put another way):
# starting with a character set lets the engine skip to the gaps, 2x faster, the same matches.
_NAME = re.compile(r"[ \t](?<=[^\s.!?:>][ \t])[ \t]*[\"'“‘(«]?([A-Z][a-z]\w*)")
_WORD = re.compile(r"\w+")
_NON_WORD_ASCII = {c: " " for c in range(128) if not re.fullmatch(r"\w", chr(c))}
MIN_SLOT_OVERLAP = 0.5

# Programming languages by name (case-insensitive), aliases folded. Names that are also
# common words (Go, R, C, Swift, Rust, Ruby, Dart, Julia) count only where a language
# is clearly meant: capitalised and next to "in/using/with" or "program/code/function...".
_PL_ALIASES = {"cpp": "c++", "csharp": "c#", "golang": "go", "js": "javascript", "py": "python"}
_PL = re.compile(
    r"(?<![\w.+#-])(python|java|javascript|typescript|kotlin|php|perl|haskell|golang|matlab|"
    r"fortran|cobol|clojure|elixir|erlang|scala|lua|sql|mysql|postgresql|bash|powershell|"
    r"html|css|c\+\+|cpp|c#|csharp|f#|objective-c|vb\.net)(?![\w+#-])",
    re.IGNORECASE,
)
_PL_CASED = re.compile(
    r"(?:\b(?:in|using|with|for|to)\s+(Go|R|C|Swift|Rust|Ruby|Dart|Julia)\b(?![+#])"
    r"|\b(Go|R|C|Swift|Rust|Ruby|Dart|Julia)(?![+#])\s+(?:program|code|function|script|"
    r"language|class|method|snippet|implementation|version))"
)
_FENCE = re.compile(r"```[ \t]*([A-Za-z][\w+#-]*)")
# Superlatives in classes of synonyms, optionally with an ordinal: "second highest" -> 2:max.
_RANK_CLASS = {
    **dict.fromkeys(("highest", "largest", "biggest", "greatest", "maximum", "max", "top"), "max"),
    **dict.fromkeys(("lowest", "smallest", "least", "minimum", "min", "fewest"), "min"),
}
_ORDINALS = {
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6",
    "seventh": "7", "eighth": "8", "ninth": "9", "tenth": "10", "nth": "n", "kth": "k",
    "n-th": "n", "k-th": "k",
}  # fmt: skip
_SUPERLATIVE = (
    # Not "most", "best", "top": paraphrases swap them freely ("the best way" / "the most
    # effective way").
    r"highest|largest|biggest|greatest|maximum|max|lowest|smallest|least|minimum|min|"
    r"fewest|longest|shortest|oldest|youngest|newest|latest|earliest|"
    r"fastest|slowest|cheapest|closest|farthest|furthest|deepest|tallest|heaviest|lightest"
)
_RANK = re.compile(
    rf"\b(?:(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|nth|kth|n-th|"
    rf"k-th|\d+(?:st|nd|rd|th))[\s-]+)?({_SUPERLATIVE})\b",
    re.IGNORECASE,
)


def slot_values(text: str) -> frozenset[str]:
    """Numbers (digits only) and capitalised words that do not start a sentence, lowercased."""
    return _scan(text)[0]


def _scan(
    text: str, lower: str | None = None, ascii_: bool = False
) -> tuple[frozenset[str], frozenset[str]]:
    """(slot values, every word lowercased and every number as digits), by regex (C speed).
    ``lower``: ``text.lower()`` when the caller has it; ``ascii_``: the text is ASCII."""
    number = _NUMBER_ASCII if ascii_ else _NUMBER
    numbers = {n.translate(_NUMBER_PUNCT) for n in number.findall(text)}
    names = {n.lower() for n in _NAME.findall(text)}
    lower = text.lower() if lower is None else lower
    if ascii_:
        # \w+ on lowercased ASCII is a run of [a-z0-9_]: every other character to a space,
        # then a split, finds the same words ~2x faster than the regex.
        words = set(lower.translate(_NON_WORD_ASCII).split())
    else:
        words = set(_WORD.findall(lower))
    words |= numbers
    return frozenset(numbers | names), frozenset(words)


def programming_languages(
    text: str, named: bool = True, ascii_lower: str | None = None
) -> frozenset[str]:
    """The programming languages a text names (lowercased, aliases folded).

    ``named=False``: the caller knows no language name occurs (see ``Slots``); only code
    fences' tags are read. ``ascii_lower``: ``text.lower()`` of an ASCII text (see
    ``_PL_ASCII``).
    """
    found: set[str] = set()
    if named:
        if ascii_lower is None:
            found |= {m.lower() for m in _PL.findall(text)}
        else:
            found |= set(_PL_ASCII.findall(ascii_lower))
        found |= {(a or b).lower() for a, b in _PL_CASED.findall(text)}
    found |= {m.lower() for m in _FENCE.findall(text)}
    return frozenset(_PL_ALIASES.get(x, x) for x in found)


def ranks(text: str) -> frozenset[str]:
    """The superlatives a text asks for, with their ordinal: ``{"2:max", "min"}``."""
    return _ranks(_RANK.findall(text))


def _ranks(found: list[tuple[str, str]]) -> frozenset[str]:
    out = set()
    for ordinal, word in found:
        word = word.lower()
        cls = _RANK_CLASS.get(word, word)
        ordinal = ordinal.lower()
        num = _ORDINALS.get(ordinal, ordinal[:-2] if ordinal else "")
        # "the first/1st highest" is the highest.
        out.add(cls if num in ("", "1") else f"{num}:{cls}")
    return frozenset(out)


# Every match of _PL, _PL_CASED and _RANK in an ASCII text contains one of these as a whole
# \w+ word (lowercased): the language's name or its first word ("c" of "c++", "vb" of
# "vb.net"), the superlative. An ASCII text whose words include none of them has no match,
# which a set test decides without the regexes' case-insensitive alternations (they were
# most of the slot guard's time). Non-ASCII text always runs the regexes (IGNORECASE lets
# a few non-ASCII letters match ASCII ones).
_PL_WORDS = frozenset(
    "python java javascript typescript kotlin php perl haskell golang matlab fortran cobol "
    "clojure elixir erlang scala lua sql mysql postgresql bash powershell html css c cpp "
    "csharp f objective vb go r swift rust ruby dart julia".split()
)
_RANK_WORDS = frozenset(_SUPERLATIVE.split("|"))
# On an ASCII text, the case-insensitive patterns find what their case-sensitive twins find
# in ``text.lower()`` (same length, same positions, the groups lowercased, which the callers
# do anyway): 2-3x faster, as IGNORECASE folds every character it compares.
_PL_ASCII = re.compile(_PL.pattern)
_RANK_ASCII = re.compile(_RANK.pattern)


# ASCII characters that ``\w`` and ``\s`` match (``re``'s str patterns), for
# ``_ascii_rank_matches``' boundary and separator tests.
_ASCII_WORD_CHARS = frozenset(c for c in map(chr, range(128)) if re.fullmatch(r"\w", c))
_ASCII_RANK_SEPARATORS = frozenset(c for c in map(chr, range(128)) if re.fullmatch(r"[\s-]", c))
_FIXED_ORDINALS = tuple(_ORDINALS)
_ORDINAL_SUFFIXES = ("st", "nd", "rd", "th")


def _ascii_rank_matches(lower: str, superlatives: frozenset[str]) -> list[tuple[str, str]]:
    """``_RANK_ASCII.findall(lower)`` of a lowercased ASCII text, in some order (``_ranks``
    makes a set of them), given the superlatives among its ``\\w+`` words.

    The pattern tries every position of the text (its leading ``\\b`` leaves the regex
    engine no character to skip to): ~0.15 ms a text, most of the slot guard's time where
    a superlative occurs. Each of its matches is one superlative occurring as a whole word
    (superlatives and ordinals are different words, so matches cannot overlap), with the
    ordinal that ends where the separators (``[\\s-]+``) before it begin, if one does and
    starts at a word boundary: found here by ``str.find`` and a look back from each
    occurrence. ``tests/dedup/test_semantic_parts.py`` compares both on generated text."""
    found: list[tuple[str, str]] = []
    word = _ASCII_WORD_CHARS
    end_of_text = len(lower)
    for sup in superlatives:
        at = lower.find(sup)
        while at >= 0:
            end = at + len(sup)
            if (at == 0 or lower[at - 1] not in word) and (
                end == end_of_text or lower[end] not in word
            ):
                found.append((_ordinal_before(lower, at), sup))
            at = lower.find(sup, at + 1)
    return found


def _ordinal_before(lower: str, at: int) -> str:
    """The ordinal the rank pattern puts before a superlative at ``at``, or ""."""
    j = at
    while j and lower[j - 1] in _ASCII_RANK_SEPARATORS:
        j -= 1
    if j == at:
        return ""
    word = _ASCII_WORD_CHARS
    # At most one ordinal ending at ``j`` starts at a word boundary (only "n-th" and "k-th"
    # hold a non-word character, and "th" is no ordinal).
    for o in _FIXED_ORDINALS:
        start = j - len(o)
        if (
            start >= 0
            and lower.startswith(o, start)
            and (start == 0 or lower[start - 1] not in word)
        ):
            return o
    if j >= 3 and lower[j - 2 : j] in _ORDINAL_SUFFIXES and lower[j - 3] in "0123456789":
        start = j - 3
        while start and lower[start - 1] in "0123456789":
            start -= 1
        if start == 0 or lower[start - 1] not in word:
            return lower[start:j]
    return ""


class Slots:
    """The slot values of one text, and its words (to tell a substitution from a re-casing),
    its programming languages and the ranks it asks for."""

    __slots__ = ("values", "words", "languages", "ranks")

    def __init__(self, text: str) -> None:
        ascii_ = text.isascii()
        lower = text.lower()
        self.values, self.words = _scan(text, lower, ascii_)
        named = not ascii_ or not self.words.isdisjoint(_PL_WORDS)
        self.languages = programming_languages(
            text, named=named, ascii_lower=lower if ascii_ else None
        )
        if not ascii_:
            self.ranks = ranks(text)
        elif self.words.isdisjoint(_RANK_WORDS):
            self.ranks = frozenset()
        else:
            self.ranks = _ranks(_ascii_rank_matches(lower, self.words & _RANK_WORDS))


def _both_differ(a: frozenset[str], b: frozenset[str]) -> bool:
    """Each side has a value the other lacks (one a subset of the other is no evidence)."""
    return bool(a - b) and bool(b - a)


def different_slots(a: Slots, b: Slots) -> bool:
    """True when each record has slot values the other lacks and most values differ.

    A value counts as different only when it is absent from the other text altogether, so a
    copy with other capitalisation, or with a sentence cut, is not "different"; only a
    substitution on both sides (a template filled with other values) is.

    Another programming language on both sides, or other ranks (second highest vs highest),
    decides alone.
    """
    if _both_differ(a.languages, b.languages):
        return True
    if a.ranks and b.ranks and a.ranks != b.ranks:
        # Unlike names, a rank added on one side changes the task ("second highest" also
        # says "highest"; its answer computes MAX twice).
        return True
    only_a = {v for v in a.values if v not in b.words}
    only_b = {v for v in b.values if v not in a.words}
    if not only_a or not only_b:
        return False
    union = len(a.values | b.values)
    return 1 - (len(only_a) + len(only_b)) / union < MIN_SLOT_OVERLAP


def texts_differ(a: str, b: str, parse: Callable[[str], Slots]) -> bool:
    """``different_slots`` of two texts, their ``Slots`` from ``parse`` (a cache).

    One ASCII text twice is never different, so it needs no parse: its slot values are among
    its words (numbers are added to them; a name is a whole ``\\w+`` run, lowercased), and its
    languages and ranks equal themselves. Copies of one text are most of the pairs a
    semantic-only dedup checks. (Not so for every non-ASCII text: lowercasing can split a
    name into other words, so those are compared as usual.)
    """
    if a == b and a.isascii():
        return False
    return different_slots(parse(a), parse(b))
