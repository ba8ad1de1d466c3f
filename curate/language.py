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
