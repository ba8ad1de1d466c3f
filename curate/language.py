"""Language identification with langdetect, seeded so results are deterministic."""

from __future__ import annotations

import re
from functools import lru_cache

UNKNOWN = "unknown"
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
MIN_LETTERS = 3


@lru_cache(maxsize=1)
def _init(seed: int) -> None:
    from langdetect import DetectorFactory

    DetectorFactory.seed = seed


def detect_language(text: str, seed: int = 0) -> str:
    """ISO 639-1 code (``en``, ``zh-cn``, ...) or ``unknown`` for text with too few letters.

    langdetect is probabilistic; fixing ``DetectorFactory.seed`` makes it deterministic.
    """
    if len(_LETTERS.findall(text or "")) < MIN_LETTERS:
        return UNKNOWN
    _init(seed)
    from langdetect import LangDetectException, detect

    try:
        return detect(text[:2000])
    except LangDetectException:
        return UNKNOWN


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
