"""Language identification with a confidence and a minimum length: ``und`` below them.

CJK scripts decide by themselves, counted per character against the words of other
scripts (a Chinese question naming Python or Docker is Chinese); plain English is settled
by its function words; the rest goes to seeded langdetect (deterministic). A Latin-script
guess is only believed when the text also holds some of that language's function words:
langdetect reads a short list of terms by its letters alone ("Oxygen, Hydrogen, Nitrogen" ->
Danish at 1.00, "Sunny, 25 degrees Celsius" -> Catalan), and a list has no function words in
any language. Codes are base ISO 639-1 (``zh``, not ``zh-cn``), the same for audit and split;
``und`` (ISO 639-2 "undetermined") when the text is too short or the guess too weak.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import islice

UNKNOWN = "und"
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_WORDS = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
# Below these, text is undetermined: langdetect guesses ("hello" -> "fi", "Mount Everest" ->
# en 0.69 / no / ca).
MIN_LETTERS = 20
MIN_WORDS = 4
MIN_CONFIDENCE = 0.9
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
_EN_WORDS_B = frozenset(w.encode() for w in _EN_WORDS)
_NOT_ASCII_WORD = bytes(c if chr(c) in "abcdefghijklmnopqrstuvwxyz'" else 32 for c in range(256))
_ASCII_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_CJK = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff]"
)

# A few of the commonest function words of each Latin-script language langdetect knows.
# Prose has several per sentence; a list of names or terms has none in any language.
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and of to is are a an in on for with that this it you i was be not what how "
        "do can my your or as at by from",
        "fr": "le la les de des du et est un une que qui en pour dans pas je vous il ce sur avec à "
        "au aux ne se sont mais ou",
        "es": "el la los las de del y es un una que en por para con no se lo como al su más "
        "pero son está",
        "de": "der die das und ist nicht ein eine zu den mit von ich sie es auf für im dem auch "
        "wie sind oder",
        "it": "il lo la gli le di del della e è un una che per non con in si sono come anche "
        "ma più",
        "pt": "o a os as de do da dos das e é um uma que em para não com se por no na mais mas são",
        "nl": "de het een en is van in op dat niet te met voor zijn ik je wat hoe er maar ook",
        "da": "og i er det at en et den til på med for ikke af som de jeg du har hvad hvor kan vil",
        "no": "og i er det at en et den til på med for ikke av som de jeg du har hva hvor kan vil",
        "sv": "och i är det att en ett den till på med för inte av som de jag du har vad var kan",
        "ca": "el la els les de del i és un una que en per amb no es al com però més",
        "ro": "și de la în este un o că nu cu pe pentru se ce care sunt din mai",
        "pl": "i w na z się nie jest to że do jak co o od ale po dla",
        "cs": "a v na se je to že s z do jak co o ale pro není",
        "sk": "a v na sa je to že s z do ako čo o ale pre nie",
        "sl": "in je v na se da za ki z ne so to pa kot",
        "hr": "i je u na se da za su s od ne to kao a",
        "fi": "ja on ei se että en hän ovat oli mitä kun mutta myös",
        "et": "ja on ei see et ma sa kui aga oli mis või",
        "hu": "a az és egy hogy nem is van de meg mi ez",
        "tr": "ve bir bu da de için ile ne mi değil çok var gibi",
        "id": "dan yang di ini itu untuk dengan tidak ada saya apa ke dari",
        "tl": "ang ng sa na at mga ay ko ka hindi ito siya",
        "vi": "và của là có không một những các cho được trong tôi bạn",
        "cy": "y yr a ac yn i o mae ar ei ni am",
        "so": "iyo oo waa ka ku in ah u la uu",
        "sw": "na ya wa kwa ni za katika la cha hii",
        "af": "die en van is nie in om het dat vir ek jy",
        "sq": "dhe të në është një për me nga se që nuk",
        "lt": "ir yra kad su į ne iš bet kaip tai",
        "lv": "un ir ka ar uz no par kas bet lai nav",
    }.items()
}
FUNCTION_WORD_SHARE = 0.12


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
    # The runs of [a-z'] in the lowered text, cut by a byte table (faster than a regex).
    words = text.encode("ascii").lower().translate(_NOT_ASCII_WORD).split()
    if len(words) < 5:
        return False
    return sum(map(_EN_WORDS_B.__contains__, words)) >= _EN_SHARE * len(words)


def _letter_count(text: str) -> int:
    """``len(_LETTERS.findall(text))``; in ASCII text the letters are [A-Za-z]."""
    if text.isascii():
        return len(text) - len(text.encode("ascii").translate(None, _ASCII_LETTERS))
    return len(_LETTERS.findall(text))


def _has_words(text: str, n: int) -> bool:
    """``len(_WORDS.findall(text)) >= n``, stopping at the n-th word."""
    return sum(1 for _ in islice(_WORDS.finditer(text), n)) >= n


def script_language(text: str, letters: int) -> str | None:
    """The language a CJK script settles by itself, or None.

    langdetect misreads short Chinese as Korean or Norwegian ("能介绍一下你自己吗？" -> ko),
    and Chinese with English terms as English, Catalan or Romanian. The script is a surer
    sign: each CJK character counts as one unit, each word of another script as one (a
    Chinese character is about a word), and then kana means Japanese, hangul Korean, Han
    alone Chinese.
    """
    if not letters:
        return None
    kana, hangul, han = (len(p.findall(text)) for p in (_KANA, _HANGUL, _HAN))
    if not (kana or hangul or han):
        return None
    units = kana + hangul + han + len(_WORDS.findall(_CJK.sub(" ", text)))
    if kana >= 0.1 * units:
        return "ja"
    if hangul >= 0.5 * units:
        return "ko"
    if han >= 0.5 * units and not hangul:
        return "zh"
    return None


def function_word_share(text: str, lang: str) -> float | None:
    """Share of ``text``'s words that are function words of ``lang`` (None: no list)."""
    table = _FUNCTION_WORDS.get(lang)
    if table is None:
        return None
    words = [w.lower() for w in _WORDS.findall(text)]
    if not words:
        return 0.0
    return sum(w in table for w in words) / len(words)


def detect_with_confidence(
    text: str, seed: int = 0, min_letters: int = MIN_LETTERS
) -> tuple[str, float]:
    """(base language code, confidence); ``und`` (confidence 0) when undetermined.

    Undetermined: fewer than ``min_letters`` letters or ``MIN_WORDS`` words (CJK aside),
    langdetect below ``MIN_CONFIDENCE``, or a Latin-script guess whose function words make up
    under ``FUNCTION_WORD_SHARE`` of the text.
    """
    text = text or ""
    letters = _letter_count(text)
    script = None if text.isascii() else script_language(text, letters)  # ASCII: no CJK
    if script:
        return script, 1.0
    if letters < min_letters or not _has_words(text, MIN_WORDS):
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
    if base[lang] < MIN_CONFIDENCE:
        return UNKNOWN, 0.0
    share = function_word_share(text[:2000], lang)
    if share is not None and share < FUNCTION_WORD_SHARE:
        return UNKNOWN, 0.0
    return lang, base[lang]


def detect_language(text: str, seed: int = 0) -> str:
    """Base ISO 639-1 code (``en``, ``zh``, ...) or ``und`` when undetermined.

    langdetect is probabilistic; fixing ``DetectorFactory.seed`` makes it deterministic.
    """
    return detect_with_confidence(text, seed)[0]


def language_probabilities(text: str, seed: int = 0) -> dict[str, float]:
    """langdetect's probabilities per language (highest first), ``{}`` when too few letters.

    Same seeding and cost as ``detect_language`` (which returns the first key); use it when a
    decision needs the detector's confidence, e.g. to ignore guesses on short texts.
    """
    if len(_LETTERS.findall(text or "")) < 3:
        return {}
    _init(seed)
    from langdetect import LangDetectException, detect_langs

    try:
        return {str(x.lang): float(x.prob) for x in detect_langs(text[:2000])}
    except LangDetectException:
        return {}
