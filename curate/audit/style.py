"""``style_outlier``: answers whose length or formatting departs strongly from the rest.

Formatting is a set of binary features per conversation's assistant text (code fences, a JSON
body, markdown headings, bullet / numbered lists, tables, bold). A feature that almost no answer
uses (fewer than ``style_rare_share``) marks the few that do; one that almost every answer uses
marks the few that lack it. Length is the robust z-score (median / MAD) of log token length.
A model fine-tuned on a set learns its house style, so these rows teach it inconsistencies.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson

from curate.audit.convs import Conv, Joined, excerpt
from curate.audit.model import AuditConfig, Finding
from curate.tokens import estimate_many

MIN_ANSWERS = 30  # below this, "the rest" is too few to define a house style

FEATURES: dict[str, str] = {
    "code_fence": "code fences",
    "json": "a JSON body",
    "heading": "markdown headings",
    "bullet_list": "bullet lists",
    "numbered_list": "numbered lists",
    "table": "markdown tables",
    "bold": "bold text",
}
_HEADING = re.compile(r"^#{1,6} \S", re.MULTILINE)
_BULLET_MARK = "[-*+•]"
_NUMBER_MARK = r"\d{1,3}[.)]"


def _item(mark: str) -> str:
    """A list item from its line's start: indent, ``mark``, a space, then text (the one
    fragment every list pattern below is built from)."""
    return rf"\s*{mark} \S"


_BULLET = re.compile("^" + _item(_BULLET_MARK), re.MULTILINE)
_NUMBERED = re.compile("^" + _item(_NUMBER_MARK), re.MULTILINE)
# The same two items, anchored at the start / led by a newline (see ``_maybe``).
_BULLET_HINT = (re.compile(_item(_BULLET_MARK)), re.compile(r"\n" + _item(_BULLET_MARK)))
_NUMBERED_HINT = (re.compile(_item(_NUMBER_MARK)), re.compile(r"\n" + _item(_NUMBER_MARK)))
# A bullet (group 1) or numbered (group 2) item of ``_BULLET`` / ``_NUMBERED``, led by a
# newline instead of ``^`` (``feature_rows`` joins texts with one).
_LIST_ITEM = re.compile(r"\n" + _item(f"(?:({_BULLET_MARK})|({_NUMBER_MARK}))"))
_TABLE = re.compile(r"^\s*\|.*\|\s*$", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*")  # not __x__: Python dunders would read as bold
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)


def _is_json(text: str) -> bool:
    t = text.strip()
    if not t or t[0] not in "{[" or t[-1] not in "}]":
        return False
    try:
        orjson.loads(t)
    except orjson.JSONDecodeError:
        return False
    return True


def features_of(text: str) -> dict[str, bool]:
    return dict(zip(FEATURES, feature_row(text), strict=True))


def feature_row(text: str) -> tuple[bool, ...]:
    """``features_of(text)``'s values, in ``FEATURES`` order (no dict per answer)."""
    fence = "```" in text
    is_json = _is_json(text)
    # Markdown features count in prose only: `# comment` or `**kwargs` in code is not markdown.
    if "`" in text:
        text = _CODE.sub(" ", text)
    # Cheap substring tests first: most answers skip most regexes.
    return (
        fence,
        is_json,
        "#" in text and _HEADING.search(text) is not None,
        _maybe(_BULLET_HINT, text) and len(_BULLET.findall(text)) >= 2,
        _maybe(_NUMBERED_HINT, text) and len(_NUMBERED.findall(text)) >= 2,
        text.count("|") >= 4 and len(_TABLE.findall(text)) >= 2,
        "**" in text and _BOLD.search(text) is not None,
    )


def feature_rows(texts: Sequence[str]) -> np.ndarray:
    """``[feature_row(t) for t in texts]`` as a bool array (a row per text, ``FEATURES``
    order). Only a text holding a backtick (fences, code spans), ``#``, ``|`` or ``*``, or
    whose first character is ``{``, ``[`` or whitespace (a JSON body may follow: ``_is_json``
    strips the text), can have a feature besides lists: those go to ``feature_row``. The
    others' list items are counted in one search of them joined."""
    n = len(texts)
    out = np.zeros((n, len(FEATURES)), dtype=bool)
    plain: list[int] = []
    for k, t in enumerate(texts):
        # ("*" for "**": a one-character test is memchr, ~4x cheaper than a two-character one)
        if "`" in t or "#" in t or "|" in t or "*" in t or t[:1] in "{[" or t[:1].isspace():
            out[k] = feature_row(t)  # (an empty text too: "" is in any string)
        else:
            plain.append(k)
    if not plain:
        return out
    # Joined with a newline before each text, the items of every text are the matches of the
    # newline-led pattern: an item's ``^\s*`` begins at the text's start or after a newline
    # in it, and a match's ``\s*`` never spans a non-space character, so each match ends
    # inside the text whose item it is, and ``findall``'s non-overlapping items are the
    # matches one for one (each begins at the first newline of the whitespace before its item).
    joined = Joined([texts[k] for k in plain], "\n")
    found = [(m.end(), m.lastindex) for m in _LIST_ITEM.finditer(joined.text)]
    if found:
        ends, kinds = np.array(found, dtype=np.int64).reshape(-1, 2).T
        owner = joined.owner(ends - 1)  # (a match may begin before its text: see above)
        rows = np.asarray(plain)
        for col, kind in ((3, 1), (4, 2)):  # bullet_list, numbered_list
            items = np.bincount(owner[kinds == kind], minlength=len(plain))
            out[rows, col] = items >= 2
    return out


def _maybe(hints: tuple[re.Pattern[str], re.Pattern[str]], text: str) -> bool:
    """Whether a line-start pattern ``^\\s*X`` (MULTILINE) can match ``text``: a match starts
    at the text's start or right after a newline, where ``\\s*X`` / ``\\n\\s*X`` then match.
    Searching for the newline-led form jumps from newline to newline (a literal prefix), far
    cheaper than trying ``^`` at every character."""
    at_start, after_newline = hints
    return at_start.match(text) is not None or after_newline.search(text) is not None


def style_outliers(convs: Sequence[Conv], config: AuditConfig) -> tuple[list[Finding], dict]:
    """Findings plus the style profile (share of answers using each feature, length stats)."""
    facts = StyleFacts()
    facts.add(convs)
    texts = {}

    def text_of(k: int) -> str:
        return texts.setdefault(k, answer_text(convs[int(facts.where[k])]) or "")

    return facts.outliers(config, text_of, [c.row for c in convs])


def answer_text(c: Conv) -> str | None:
    """The assistant turns joined (what the style features read), or None for a conversation
    without a non-blank answer (not counted)."""
    if c.assistant_turns and "".join(c.assistant_turns).strip():
        return "\n\n".join(c.assistant_turns)
    return None


def style_chunk(convs: Sequence[Conv]) -> tuple:
    """One chunk's style facts: for each answered conversation its features (a bool row per
    answer), estimated tokens, line and position in the chunk."""
    texts: list[str] = []
    lines: list[int] = []
    where: list[int] = []
    for k, c in enumerate(convs):
        text = answer_text(c)
        if text is not None:
            texts.append(text)
            lines.append(c.line)
            where.append(k)
    return (
        feature_rows(texts),
        estimate_many(texts),
        np.asarray(lines, np.int64),
        np.asarray(where, np.int64),
    )


class StyleFacts:
    """What ``style_outliers`` needs of each answered conversation, kept as arrays (features,
    estimated tokens, line, row, position) so the conversation views can be dropped chunk by
    chunk; ``add`` takes the conversations in input order."""

    def __init__(self) -> None:
        self._feats: list[np.ndarray] = []
        self._tokens: list[np.ndarray] = []
        self._lines: list[np.ndarray] = []
        self._where: list[np.ndarray] = []
        self._seen = 0

    def add(self, convs: Sequence[Conv]) -> None:
        self.merge(style_chunk(convs), self._seen)
        self._seen += len(convs)

    def merge(self, part: tuple, base: int) -> None:
        """Append one ``style_chunk`` whose first conversation is at position ``base``."""
        feats, tokens, lines, where = part
        self._feats.append(feats)
        self._tokens.append(tokens)
        self._lines.append(lines)
        self._where.append(where + base)

    @property
    def where(self) -> np.ndarray:
        """Each answered conversation's position among all those given to ``add``."""
        return np.concatenate(self._where) if self._where else np.zeros(0, np.int64)

    def outliers(
        self, config: AuditConfig, text_of: Callable[[int], str], rows_of: Sequence[int]
    ) -> tuple[list[Finding], dict]:
        """``style_outliers``' findings and profile; ``text_of(k)``: the ``k``-th answered
        conversation's ``answer_text`` (read only for each finding's example); ``rows_of``:
        each position's row (what findings name)."""
        feats = np.concatenate(self._feats) if self._feats else np.zeros((0, len(FEATURES)), bool)
        lines = np.concatenate(self._lines) if self._lines else np.zeros(0, np.int64)
        where = self.where
        n = len(feats)
        counts = feats.sum(axis=0).tolist()
        profile: dict[str, Any] = {
            "answers": n,
            "feature_share": {
                f: round(counts[j] / n, 4) if n else 0.0 for j, f in enumerate(FEATURES)
            },
        }
        if n < MIN_ANSWERS:
            profile["note"] = f"fewer than {MIN_ANSWERS} answers: no style baseline"
            return [], profile

        def finding(odd: list[int], msg: str, detail: dict) -> Finding:
            return Finding(
                code="style_outlier",
                message=msg,
                lines=lines[odd].tolist(),
                rows=[int(rows_of[k]) for k in where[odd].tolist()],
                example=f"line {int(lines[odd[0]])}: {excerpt(text_of(odd[0]), 240)}",
                detail=detail,
            )

        findings: list[Finding] = []
        rare = config.style_rare_share
        for j, (f, label) in enumerate(FEATURES.items()):
            share = profile["feature_share"][f]
            if 0 < share < rare:
                odd = np.flatnonzero(feats[:, j]).tolist()
                msg = f"{len(odd)} answers use {label}, which only {share:.1%} of answers do"
                kind = f"uses_{f}"
            elif 1 - rare < share < 1:
                odd = np.flatnonzero(~feats[:, j]).tolist()
                msg = f"{len(odd)} answers lack {label}, which {share:.1%} of answers use"
                kind = f"lacks_{f}"
            else:
                continue
            findings.append(finding(odd, msg, {"kind": kind, "feature": f}))

        logs = np.log1p(np.concatenate(self._tokens))
        med = float(np.median(logs))
        mad = float(np.median(np.abs(logs - med))) * 1.4826
        profile["length_tokens_median"] = round(math.expm1(med), 1)
        if mad > 0:
            z = (logs - med) / mad
            for kind, mask in (
                ("long", z > config.style_length_z),
                ("short", z < -config.style_length_z),
            ):
                odd = np.flatnonzero(mask).tolist()
                if odd:
                    msg = (
                        f"{len(odd)} answers are far {'longer' if kind == 'long' else 'shorter'} "
                        f"than the rest (median {math.expm1(med):.0f} tokens)"
                    )
                    findings.append(finding(odd, msg, {"kind": f"length_{kind}"}))
        return findings, profile


def _finding(
    answered: Sequence[Conv], texts: Sequence[str], odd: list[int], msg: str, detail: dict
) -> Finding:
    first = odd[0]
    return Finding(
        code="style_outlier",
        message=msg,
        lines=[answered[i].line for i in odd],
        rows=[answered[i].row for i in odd],
        example=f"line {answered[first].line}: {excerpt(texts[first], 240)}",
        detail=detail,
    )
