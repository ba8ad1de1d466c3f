"""Task metrics of a response against the reference assistant turn.

Every metric is "higher is better" in [0, 1] except ``length_ratio`` (response tokens /
reference tokens, 1.0 is the reference's length), which is reported but never compared as a win
or a regression.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from curate.errors import ConfigError

HIGHER_IS_BETTER = (
    "exact_match",
    "normalized_match",
    "token_f1",
    "rouge_l",
    "json_valid",
    "schema_valid",
    "regex_match",
)
METRIC_ORDER = (*HIGHER_IS_BETTER, "length_ratio")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"\u2018", "\u2019", "\u201c", "\u201d", "\u2013", "\u2014"}
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def normalize(text: str) -> str:
    """SQuAD-style normalisation: NFKC, lower case, no punctuation, no articles, one space."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Word tokens of the normalised text (what F1 and ROUGE-L count)."""
    return normalize(text).split()


def token_f1(prediction: str, reference: str) -> float:
    """Bag-of-tokens F1 (SQuAD). Two empty texts agree (1.0); one empty text scores 0."""
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, O(len(a) * len(b)) time, O(len(b)) memory."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (beta = 1) over normalised word tokens."""
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def length_ratio(prediction: str, reference: str) -> float | None:
    """Response length over reference length in raw word tokens; None for an empty reference."""
    ref = _WORD.findall(reference)
    if not ref:
        return None
    return len(_WORD.findall(prediction)) / len(ref)


@dataclass(frozen=True)
class FormatSpec:
    """What a well-formed response looks like; each part is checked only when set.

    Attributes:
        expect_json: the response must parse as JSON (implied by ``schema``).
        schema: a JSON Schema the parsed response must satisfy.
        regex: a pattern the whole stripped response must match (``re.fullmatch``).
    """

    expect_json: bool = False
    schema: Mapping[str, Any] | None = None
    regex: str | None = None

    def __post_init__(self) -> None:
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ConfigError(f"--response-regex: invalid pattern: {exc}") from exc
        if self.schema is not None:
            import jsonschema

            try:
                jsonschema.validators.validator_for(self.schema).check_schema(self.schema)
            except jsonschema.SchemaError as exc:
                raise ConfigError(
                    f"--response-schema: not a valid JSON Schema: {exc.message}"
                ) from exc

    @property
    def wants_json(self) -> bool:
        return self.expect_json or self.schema is not None

    def check(self, response: str) -> dict[str, float]:
        """1.0/0.0 per requested check: ``json_valid``, ``schema_valid``, ``regex_match``."""
        out: dict[str, float] = {}
        if self.wants_json:
            try:
                value = json.loads(response.strip())
                parsed = True
            except ValueError:
                value, parsed = None, False
            out["json_valid"] = float(parsed)
            if self.schema is not None:
                out["schema_valid"] = float(parsed and _schema_ok(self.schema, value))
        if self.regex is not None:
            out["regex_match"] = float(re.fullmatch(self.regex, response.strip(), re.S) is not None)
        return out


def _schema_ok(schema: Mapping[str, Any], value: Any) -> bool:
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    return validator.is_valid(value)


def score(prediction: str, reference: str, fmt: FormatSpec | None = None) -> dict[str, float]:
    """All metrics of one response against its reference (``length_ratio`` may be absent)."""
    out = {
        "exact_match": float(prediction.strip() == reference.strip()),
        "normalized_match": float(normalize(prediction) == normalize(reference)),
        "token_f1": token_f1(prediction, reference),
        "rouge_l": rouge_l(prediction, reference),
    }
    if fmt is not None:
        out.update(fmt.check(prediction))
    ratio = length_ratio(prediction, reference)
    if ratio is not None:
        out["length_ratio"] = ratio
    return out


def mean_scores(rows: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each metric over the rows that have it, in ``METRIC_ORDER``."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    n = 0
    for row in rows:
        n += 1
        for key, value in row.items():
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
    ordered = [m for m in METRIC_ORDER if m in sums] + sorted(set(sums) - set(METRIC_ORDER))
    return {m: sums[m] / counts[m] for m in ordered}


def compare_means(base: Mapping[str, float], tuned: Mapping[str, float]) -> dict[str, Any]:
    """Per-metric table rows: base, tuned and tuned - base."""
    table = {}
    for metric in base.keys() | tuned.keys():
        b, t = base.get(metric), tuned.get(metric)
        delta = None if b is None or t is None else t - b
        table[metric] = {"base": b, "tuned": t, "delta": delta}
    order = [m for m in METRIC_ORDER if m in table] + sorted(set(table) - set(METRIC_ORDER))
    return {m: table[m] for m in order}
