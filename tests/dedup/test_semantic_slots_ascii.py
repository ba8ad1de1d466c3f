"""The slot guard's ASCII shortcut (lowercased text, case-sensitive patterns) finds exactly
what the case-insensitive patterns find."""

from __future__ import annotations

import random

from curate.dedup.slots import Slots, programming_languages, ranks

PIECES = (
    "the Second HIGHEST salary, 3rd-lowest kth Smallest n-th max MIN top least Fastest "
    "Python JAVA c++ C# cpp csharp Objective-C vb.net VB.NET golang Go program in Rust using "
    "R code ```Kotlin ```js PowerShell SQL mySQL. Ingrid Berg paid $24,950 on 2024-01-05: "
    "first, highest; 1st largest biggest? (Julia) <b>Dart</b> x.java py-3 #sql f# F#"
).split()


def test_ascii_shortcut_matches_the_case_insensitive_patterns() -> None:
    rng = random.Random(11)
    for _ in range(3_000):
        words = [rng.choice(PIECES) for _ in range(rng.randint(1, 25))]
        words = [w.upper() if rng.random() < 0.2 else w for w in words]
        text = rng.choice((" ", "\n", "  ", "-")).join(words)
        got = Slots(text)
        assert got.languages == programming_languages(text), text
        assert got.ranks == ranks(text), text


def test_non_ascii_text_keeps_the_case_insensitive_patterns() -> None:
    text = "the ſecond highest in Kotlin and the KELVIN-sign \u212ath smallest"
    got = Slots(text)
    assert got.languages == programming_languages(text)
    assert got.ranks == ranks(text)


def test_ascii_words_are_the_word_pattern_s_words() -> None:
    """The ASCII word split (translate + split) gives exactly ``\\w+``'s words, every ASCII
    character included (punctuation, control characters, digits, underscores)."""
    import re

    from curate.dedup.slots import _scan

    rng = random.Random(5)
    alphabet = [chr(c) for c in range(128)] + list("abcXYZ019_ ") * 8
    for _ in range(2_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        text += " " + " ".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))
        want = set(re.findall(r"\w+", text.lower()))
        values, words = _scan(text, text.lower(), ascii_=True)
        assert values == _scan(text)[0], text
        assert words == _scan(text)[1] and want <= words, text


# The patterns before their faster spellings (the lookbehind first; \d on every text).
OLD_NAME = r"(?<=[^\s.!?:>])[ \t]+[\"'“‘(«]?([A-Z][a-z]\w*)"
OLD_NUMBER = r"\d+(?:[.,:/-]\d+)*"


def test_name_and_number_patterns_find_what_the_originals_find() -> None:
    import re

    from curate.dedup.slots import _NAME, _NUMBER_ASCII

    old_name, old_number = re.compile(OLD_NAME), re.compile(OLD_NUMBER)
    rng = random.Random(3)
    alphabet = list(" \t\n .!?:>\"'“‘(«-,/09") + list("AaBbZzéİß٣_") + [" Ab", " Cd", "\tEf"]
    for _ in range(5_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        text += " ".join(rng.choice(PIECES) for _ in range(rng.randint(0, 4)))
        assert _NAME.findall(text) == old_name.findall(text), text
        if text.isascii():
            assert _NUMBER_ASCII.findall(text) == old_number.findall(text), text


def test_one_ascii_text_twice_is_never_different_and_needs_no_parse() -> None:
    """``texts_differ`` answers a text against itself without parsing it when it is ASCII
    (the answer ``different_slots`` gives), and parses it otherwise: lowercasing can split
    a non-ASCII name into other words, so such a text can differ from itself."""
    from curate.dedup.slots import different_slots, texts_differ

    def no_parse(text: str) -> Slots:
        raise AssertionError(f"parsed {text!r}")

    rng = random.Random(9)
    for _ in range(1_000):
        text = " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30)))
        assert not texts_differ(text, text, no_parse)
        assert not different_slots(Slots(text), Slots(text)), text
    odd = "met Abİx, Cdİy and Efİz"  # İ lowercases to i + a combining dot (not a \w)
    assert different_slots(Slots(odd), Slots(odd))
    assert texts_differ(odd, odd, Slots)
    other = "Bill Tom Hale in Seville $11,950"
    assert texts_differ(other, "Bill Ana Ruiz in Lyon $42", Slots)
