"""Languages per conversation and per role (seeded langdetect), and answers in another language.

langdetect costs about 3 ms per text whatever its length (its 7 random trials dominate), so the
audit detects on a seeded sample of conversations (``AuditConfig.language_sample``) and gives
each role's first ``language_chars`` characters. Shares are estimates from the sample, and the
report says how many conversations were checked; ``language_mismatch`` findings cover only the
checked conversations.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.audit.convs import Conv, excerpt
from curate.audit.model import AuditConfig, Finding
from curate.language import MIN_CONFIDENCE, MIN_LETTERS, MIN_WORDS, UNKNOWN, detect_with_confidence

# Below MIN_LETTERS letters / MIN_WORDS words, under MIN_CONFIDENCE, or with none of the
# guessed language's function words, a text is ``und`` (langdetect guesses on short text:
# "hello" -> "fi", "Oxygen, Hydrogen, Nitrogen" -> "da"); see curate.language.
# Placeholders, code and links are not language; strip them before detection.
_NOISE = re.compile(r"\{\{[^{}]{0,60}\}\}|```.*?```|`[^`]*`|https?://\S+", re.DOTALL)
ROLES = ("system", "user", "assistant")
# A user asking for a translation (or an answer "in French") expects another language back.
_TRANSLATION = re.compile(
    r"translat|tradu[ciz]|übersetz|翻译|翻譯|翻訳|번역"
    r"|\bin (?:english|french|spanish|german|italian|portuguese|dutch|russian|chinese|japanese"
    r"|korean|arabic|hindi)\b"
    r"|\ben (?:anglais|français|espagnol|allemand|italien|chinois|inglés|francés|alemán)\b"
    r"|\bauf (?:englisch|deutsch|französisch|spanisch)\b"
    r"|(?:用|说|說)(?:英文|英语|中文|汉语|日语|法语)",
    re.IGNORECASE,
)


class _Detector:
    """(language, confidence) of a text; the language as a base ISO 639-1 code (``zh``, not
    ``zh-cn``) or ``unknown``.

    CJK scripts decide by themselves (confidence 1); other text goes to seeded langdetect when
    it has at least ``MIN_LETTERS`` letters. Results are cached (system prompts repeat).
    """

    def __init__(self, seed: int, chars: int) -> None:
        self.seed = seed
        self.chars = chars
        self.cache: dict[str, tuple[str, float]] = {}

    def __call__(self, text: str) -> tuple[str, float]:
        clean = _NOISE.sub(" ", text)[: self.chars]
        hit = self.cache.get(clean)
        if hit is None:
            hit = self._detect(clean)
            if len(self.cache) < 100_000:
                self.cache[clean] = hit
        return hit

    def _detect(self, clean: str) -> tuple[str, float]:
        return detect_with_confidence(clean, self.seed, MIN_LETTERS)


def sample_indices(n: int, limit: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded sample of ``limit`` out of ``n`` (all when limit is 0 or >= n)."""
    if limit <= 0 or n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=limit, replace=False))


def compute_languages(
    convs: Sequence[Conv], config: AuditConfig
) -> tuple[dict[str, Any], list[Finding]]:
    """The languages section and ``language_mismatch`` findings."""
    detect = _Detector(config.seed, config.language_chars)
    idx = sample_indices(len(convs), config.language_sample, config.seed)
    per_role: dict[str, Counter[str]] = {r: Counter() for r in ROLES}
    per_conv: Counter[str] = Counter()
    mismatches: dict[tuple[str, str], list[Conv]] = {}
    comparable = 0
    translations = 0
    for i in idx:
        c = convs[int(i)]
        langs: dict[str, tuple[str, float]] = {}
        for role in ROLES:
            text = c.role_text.get(role)
            if text is not None:
                langs[role] = detect(text)
                per_role[role][langs[role][0]] += 1
        user, asst = langs.get("user"), langs.get("assistant")
        if user and asst and user[0] == asst[0]:
            per_conv[user[0]] += 1
        else:
            # The conversation's language: its dialogue as a whole (system prompts excluded,
            # they are often boilerplate in another language than the data).
            dialogue = "\n".join(c.role_text.get(r, "") for r in ("user", "assistant"))
            per_conv[detect(dialogue)[0]] += 1
        if user and asst and UNKNOWN not in (user[0], asst[0]):
            comparable += 1
            # Only confident calls on both sides count: langdetect reads some short English
            # sentences as French or Dutch at 0.6-0.8.
            if user[0] != asst[0] and min(user[1], asst[1]) >= MIN_CONFIDENCE:
                if _TRANSLATION.search(c.role_text.get("user", "")):
                    translations += 1  # answering in another language is the task
                else:
                    mismatches.setdefault((user[0], asst[0]), []).append(c)

    checked = len(idx)
    findings = []
    for (ul, al), group in sorted(mismatches.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        first = group[0]
        findings.append(
            Finding(
                code="language_mismatch",
                message=f"user writes {ul}, assistant answers in {al}",
                lines=[c.line for c in group],
                rows=[c.row for c in group],
                example=(
                    f"user: {excerpt(first.role_text.get('user'), 150)}\n"
                    f"assistant: {excerpt(first.role_text.get('assistant'), 150)}"
                ),
                detail={"user_language": ul, "assistant_language": al},
            )
        )
    n_mis = sum(len(g) for g in mismatches.values())
    section = {
        "method": "script (CJK) + langdetect (seeded) + function words",
        "min_letters": MIN_LETTERS,
        "min_words": MIN_WORDS,
        "min_confidence": MIN_CONFIDENCE,
        "checked": checked,
        "of": len(convs),
        "sampled": checked < len(convs),
        "chars_per_text": config.language_chars,
        "conversation": _shares(per_conv, checked),
        "by_role": {r: _shares(c, sum(c.values())) for r, c in per_role.items() if c},
        "comparable": comparable,
        "mismatch": n_mis,
        "translation_requests": translations,
        "mismatch_share": round(n_mis / comparable, 4) if comparable else 0.0,
    }
    section["reading"] = _reading(section)
    return section, findings


def _shares(counts: Counter[str], total: int) -> list[dict[str, Any]]:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        {"language": k, "count": v, "share": round(v / total, 4) if total else 0.0}
        for k, v in items
    ]


def _reading(section: dict[str, Any]) -> str:
    conv = [x for x in section["conversation"] if x["language"] != UNKNOWN]
    if not conv:
        return "No conversation had enough text to tell its language."
    parts = ", ".join(f"{x['share']:.0%} {x['language']}" for x in conv[:4])
    sample = (
        f" (a seeded sample of {section['checked']:,} of {section['of']:,} conversations)"
        if section["sampled"]
        else ""
    )
    if len(conv) == 1 or conv[0]["share"] >= 0.98:
        head = f"The set is monolingual: {parts}{sample}."
    else:
        head = f"The set mixes languages: {parts}{sample}."
    if section["mismatch"]:
        head += (
            f" In {section['mismatch']} conversations ({section['mismatch_share']:.1%} of those "
            "long enough to tell) the assistant answers in another language than the user."
        )
    if section["translation_requests"]:
        head += (
            f" {section['translation_requests']} answers in another language are translation "
            "requests and are not counted as mismatches."
        )
    return head
