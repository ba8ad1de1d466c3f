"""Language identification: CJK scripts by themselves, plain English by its function words,
the rest by langdetect (seeded, so results are deterministic). Codes are base ISO 639-1
(``zh``, not ``zh-cn``), the same for audit and split.
"""

from __future__ import annotations

import re
from functools import lru_cache

UNKNOWN = "unknown"
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
MIN_LETTERS = 3
# English fast path: plain-ASCII text where these function words make up a fifth of the words
# is English (they are ~30-40% of English prose and rare in other Latin-script languages).
# It skips langdetect's ~5 ms for the commonest case.
_EN_WORDS = frozenset(
    "the and of to is are was were you your that this it for with be have has can what how not "
    "will would do does if or by from we they i my me he she his her which there their about "
    "should could about into them these those please thanks following when where who why "
    "make give list write help each all any some than then been just like one more also only "
    "very other out up over after before a an in on at as our us so no".split()
)
_EN_SHARE = 0.2
_ASCII_WORD = re.compile(r"[a-z']+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")


@lru_cache(maxsize=1)
def _init(seed: int) -> None:
    from langdetect import DetectorFactory

    DetectorFactory.seed = seed


def base_language(code: str) -> str:
    """``zh-cn`` -> ``zh``: a Chinese answer to a Chinese question is no mismatch."""
    return code.split("-")[0]


def english_fast_path(text: str) -> bool:
    """True for plain-ASCII text that is clearly English by its function words."""
    if not text.isascii():
        return False
    words = _ASCII_WORD.findall(text.lower())
    if len(words) < 5:
        return False
    return sum(w in _EN_WORDS for w in words) >= _EN_SHARE * len(words)


def script_language(text: str, letters: int) -> str | None:
    """The language a CJK script settles by itself, or None.

    langdetect misreads short Chinese as Korean or Norwegian ("能介绍一下你自己吗？" -> ko);
    the script is a surer sign: kana means Japanese, hangul Korean, Han alone Chinese.
    """
    if not letters:
        return None
    kana, hangul, han = (len(p.findall(text)) for p in (_KANA, _HANGUL, _HAN))
    if kana >= 0.1 * letters:
        return "ja"
    if hangul >= 0.5 * letters:
        return "ko"
    if han >= 0.5 * letters and not hangul:
        return "zh"
    return None


def detect_with_confidence(
    text: str, seed: int = 0, min_letters: int = MIN_LETTERS
) -> tuple[str, float]:
    """(base language code, confidence); ``unknown`` below ``min_letters`` letters."""
    letters = len(_LETTERS.findall(text or ""))
    script = script_language(text, letters)
    if script:
        return script, 1.0
    if letters < min_letters:
        return UNKNOWN, 0.0
    if english_fast_path(text):
        return "en", 0.99
    probs = language_probabilities(text, seed)
    if not probs:
        return UNKNOWN, 0.0
    # Sum over regional variants (zh-cn + zh-tw) before picking the base language.
    base: dict[str, float] = {}
    for code, p in probs.items():
        base[base_language(code)] = base.get(base_language(code), 0.0) + p
    lang = max(base, key=lambda k: (base[k], k))
    return lang, base[lang]


def detect_language(text: str, seed: int = 0) -> str:
    """Base ISO 639-1 code (``en``, ``zh``, ...) or ``unknown`` for text with too few letters.

    langdetect is probabilistic; fixing ``DetectorFactory.seed`` makes it deterministic.
    """
    return detect_with_confidence(text, seed)[0]


def language_probabilities(text: str, seed: int = 0) -> dict[str, float]:
    """langdetect's probabilities per language (highest first), ``{}`` when too few letters.

    Same seeding and cost as ``detect_language`` (which returns the first key); use it when a
    decision needs the detector's confidence, e.g. to ignore guesses on short texts.
    """
    if len(_LETTERS.findall(text or "")) < MIN_LETTERS:
        return {}
    _init(seed)
    from langdetect import LangDetectException, detect_langs

    try:
        return {str(x.lang): float(x.prob) for x in detect_langs(text[:2000])}
    except LangDetectException:
        return {}
