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
