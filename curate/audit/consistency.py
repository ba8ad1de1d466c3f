"""Consistency findings: conflicting answers, unfilled placeholders, degenerate repetition,
missing user turns, short answers and refusal boilerplate. (Style outliers: ``style``;
language mismatch: ``languages``.)

Every detector is a pure function of the conversation views and returns ``Finding`` objects that
group the records sharing one issue, each with its 1-based record numbers and an example.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Sequence

import numpy as np

from curate.audit import repeats
from curate.audit.convs import Conv, Joined, excerpt, norm, squeezed
from curate.audit.model import AuditConfig, Finding
from curate.dedup.near import sorted_unique
from curate.tokens import estimate_tokens

# -- conflicting answers ---------------------------------------------------------------------


GRAM_CHARS = 2_000  # the opening of an answer is enough to tell whether it differs


def _grams(t: str, n: int = 4) -> set[str]:
    """Character n-grams of an already normalised text."""
    if len(t) <= n:
        return {t}
    return {t[i : i + n] for i in range(len(t) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _gram_codes(t: str) -> np.ndarray | set[str]:
    """``_grams(t)`` as sorted unique codes (four 16-bit code points each, uint64; four bytes,
    uint32, for ASCII text) when every character of ``t`` is in the Basic Multilingual Plane:
    numpy builds and intersects them several times faster than a set of slices. Else (rare)
    the set itself."""
    if len(t) > 4:
        if t.isascii():
            # Code points are the bytes, and each 4-gram is the big-endian uint32 at its
            # offset: a strided view, no shifts (``_wide`` turns them into the BMP codes).
            raw = t.encode("ascii")
            return sorted_unique(np.ndarray((len(raw) - 3,), ">u4", raw, 0, (1,)).astype(np.uint32))
        u = np.frombuffer(t.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if int(u.max()) < 0x10000:
            u = u.astype(np.uint64)
            return sorted_unique((u[:-3] << 48) | (u[1:-2] << 32) | (u[2:-1] << 16) | u[3:])
    return _grams(t)


def _wide(codes: np.ndarray) -> np.ndarray:
    """An ASCII text's uint32 4-gram codes as the BMP uint64 ones (16 bits per character);
    the order is kept, so they stay sorted."""
    if codes.dtype == np.uint64:
        return codes
    c = codes.astype(np.uint64)
    return ((c & 0xFF000000) << 24) | ((c & 0xFF0000) << 16) | ((c & 0xFF00) << 8) | (c & 0xFF)


def _gram_jaccard(a: np.ndarray | set[str], ta: str, b: np.ndarray | set[str], tb: str) -> float:
    """``jaccard(_grams(ta), _grams(tb))`` from ``_gram_codes`` of both texts."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.dtype != b.dtype:  # ASCII (uint32) against non-ASCII: one form for both
            a, b = _wide(a), _wide(b)
        # |a & b| of two sorted unique arrays: where each code of the smaller would sit in the
        # larger, and whether it is there (a fraction of intersect1d's sort of both).
        if a.size > b.size:
            a, b = b, a
        inter = int(np.count_nonzero(b.take(np.searchsorted(b, a), mode="clip") == a))
        return inter / (a.size + b.size - inter)
    return jaccard(_grams(ta), _grams(tb))


def conflicting_answers(convs: Sequence[Conv], config: AuditConfig) -> list[Finding]:
    """Groups of conversations whose context (system + earlier turns + the prompt) is the same
    after normalisation but whose final answers differ materially (character 4-gram Jaccard
    below ``config.conflict_similarity``: rewordings of one answer stay above it)."""
    asked = [c for c in convs if c.answer is not None and c.has_user]
    keys = [squeezed(c.context) for c in asked]
    # Equal norms give equal keys, so the groups of equal norms split those of equal keys. A
    # key's members with one context text (copies) are one group without a norm; the groups
    # keep the order of their first members (a dict keyed by norm, filled in input order).
    by_key: dict[bytes | str, list[int]] = {}
    for i, key in enumerate(keys):
        by_key.setdefault(key, []).append(i)
    normed: dict[str, str] = {}  # norm of each distinct text (copies repeat it verbatim)
    split: list[list[int]] = []
    for at in by_key.values():
        if len(at) < 2:  # a unique key is a unique context: a group of one, skipped
            continue
        first = asked[at[0]].context
        if all(asked[i].context == first for i in at):
            split.append(at)
            continue
        parts: dict[str, list[int]] = {}
        for i in at:
            text = asked[i].context
            n = normed.get(text)
            if n is None:
                n = normed[text] = norm(text)
            parts.setdefault(n, []).append(i)
        split += parts.values()
    split.sort(key=operator.itemgetter(0))
    findings = []
    for at in split:
        if len(at) < 2:
            continue
        members = [asked[i] for i in at]
        answer = members[0].answer
        if all(c.answer == answer for c in members):
            continue  # one answer text: one variant, whatever its norm
        # Greedy grouping of answers into variants: each answer joins the first variant it
        # is similar to; a group with two or more variants conflicts. (A variant's grams are
        # made when an answer is first compared with it.)
        variants: list[list] = []  # [grams or None, head, members]
        seen: dict[str, list[Conv]] = {}  # identical answers join without comparing grams
        for c in members:
            answer = c.answer or ""
            key = normed.get(answer)
            if key is None:
                key = normed[answer] = norm(answer)
            if key in seen:
                seen[key].append(c)
                continue
            head = key[:GRAM_CHARS]
            grams = _gram_codes(head) if variants else None
            for variant in variants:
                rep, rep_head, bucket = variant
                if rep is None:
                    rep = variant[0] = _gram_codes(rep_head)
                if _gram_jaccard(grams, head, rep, rep_head) >= config.conflict_similarity:  # type: ignore[arg-type]
                    bucket.append(c)
                    seen[key] = bucket
                    break
            else:
                variants.append([grams, head, [c]])
                seen[key] = variants[-1][2]
        if len(variants) < 2:
            continue
        findings.append(conflict_finding(members, [bucket for *_, bucket in variants]))
    findings.sort(key=lambda f: f.lines[0])
    return findings


def conflict_finding(members: Sequence[Conv], variants: list[list[Conv]]) -> Finding:
    """The ``conflicting_answers`` finding of one shared prompt's ``members``, grouped into
    ``variants`` (each a list of conversations, in the order they were formed)."""
    a, b = variants[0][0], variants[1][0]
    prompt = excerpt(a.role_text.get("user"), 200)
    return Finding(
        code="conflicting_answers",
        message=(
            f"{len(members)} conversations share one prompt but give {len(variants)} "
            "materially different answers"
        ),
        lines=sorted(c.line for c in members),
        rows=sorted(c.row for c in members),
        example=(
            f"prompt: {prompt}\n"
            f"line {a.line}: {excerpt(a.answer, 200)}\n"
            f"line {b.line}: {excerpt(b.answer, 200)}"
        ),
        detail={
            "prompt": prompt,
            "variants": len(variants),
            "variant_lines": [sorted(x.line for x in bucket) for bucket in variants],
        },
    )


# -- placeholders ------------------------------------------------------------------------------

_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)
_PLACEHOLDERS = [
    re.compile(r"\{\{\s*[A-Za-z_][\w.\- ]{0,40}?\s*\}\}"),  # {{name}}, {{ user.name }}
    re.compile(  # <INSERT>, [Your Name], [insert date here], <placeholder>, [TODO]
        r"[\[<]\s*(?:insert|placeholder|your|fill[ _-]?in|todo|tbd)\b[^\]\[<>\n]{0,40}[\]>]",
        re.IGNORECASE,
    ),
    re.compile(r"[\[<](?:[A-Z]+_)+[A-Z]+[\]>]"),  # [COMPANY_NAME], <USER_NAME>
    re.compile(r"[\[<](?:NAME|DATE|COMPANY|ADDRESS|EMAIL|PHONE|CITY|AUTHOR|PRODUCT)[\]>]"),
]
MAX_PLACEHOLDER_GROUPS = 20


def placeholders_in(text: str) -> list[str]:
    """Placeholder tokens in prose (code spans and fences are skipped: templates are legal
    there)."""
    if "{{" not in text and "[" not in text and "<" not in text:
        return []  # the common case, decided without any regex
    if "`" in text:
        prose = _CODE.sub(" ", text)
        if "{{" not in prose and "[" not in prose and "<" not in prose:
            return []  # all in code (each pattern opens with one of these)
    else:
        prose = text
    found: list[str] = []
    for pattern in _PLACEHOLDERS:
        for m in pattern.finditer(prose):
            tok = re.sub(r"\s+", "", m.group(0)) if m.group(0).startswith("{{") else m.group(0)
            if tok not in found:
                found.append(tok)
    return found


def _holding(convs: Sequence[Conv], needles: tuple[str, ...]) -> list[tuple[Conv, str]]:
    """The ``(conversation, role)`` of each role text of ``convs`` that holds one of
    ``needles``, in order (``for c in convs for role in c.role_text``): the texts are joined
    and each needle found with ``str.find``, jumping to the next text after a hit, instead of
    an ``in`` test per needle and text in a Python loop. No needle may hold the separator
    (NUL)."""
    texts = [t for c in convs for t in c.role_text.values()]
    if not texts:
        return []
    joined = Joined(texts, "\x00")
    hits: set[int] = set()
    for needle in needles:
        at = joined.text.find(needle)
        while at >= 0:
            k = int(joined.owner(at))
            hits.add(k)
            at = joined.text.find(needle, int(joined.ends[k]))
    if not hits:
        return []
    firsts = np.cumsum([0] + [len(c.role_text) for c in convs])  # each one's first text
    out = []
    for k in sorted(hits):
        i = int(firsts.searchsorted(k, "right")) - 1
        c = convs[i]
        out.append((c, list(c.role_text)[k - int(firsts[i])]))
    return out


def template_placeholders(convs: Sequence[Conv]) -> list[Finding]:
    """One finding per placeholder token (``{{name}}``), listing every record containing it."""
    by_token: dict[str, list[tuple[Conv, str]]] = {}
    # (Texts with a "{" are a superset of those with "{{": one-character needles are found
    # with memchr, many times faster than a two-character search; placeholders_in decides.)
    for c, role in _holding(convs, ("{", "[", "<")):
        for tok in placeholders_in(c.role_text[role]):
            by_token.setdefault(tok, []).append((c, role))
    return placeholder_findings(by_token)


def placeholder_findings(by_token: dict[str, list[tuple[Conv, str]]]) -> list[Finding]:
    """The findings of ``template_placeholders`` from each token's (conversation, role) hits."""
    ranked = sorted(by_token.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    head, tail = ranked[:MAX_PLACEHOLDER_GROUPS], ranked[MAX_PLACEHOLDER_GROUPS:]
    findings = []
    for tok, hits in head:
        c, role = hits[0]
        roles = sorted({r for _, r in hits})
        findings.append(
            Finding(
                code="template_placeholder",
                message=f"unfilled placeholder {tok} in {len(hits)} {'/'.join(roles)} turn(s)",
                lines=sorted({x.line for x, _ in hits}),
                rows=sorted({x.row for x, _ in hits}),
                example=f"line {c.line} ({role}): {_around(c.role_text[role], tok)}",
                detail={"placeholder": tok, "roles": roles},
            )
        )
    if tail:
        hits = [h for _, hs in tail for h in hs]
        c, role = hits[0]
        findings.append(
            Finding(
                code="template_placeholder",
                message=f"{len(tail)} other placeholder tokens",
                lines=sorted({x.line for x, _ in hits}),
                rows=sorted({x.row for x, _ in hits}),
                example=f"line {c.line} ({role}): {_around(c.role_text[role], tail[0][0])}",
                detail={"placeholders": [t for t, _ in tail]},
            )
        )
    return findings


def _around(text: str, token: str, width: int = 100) -> str:
    i = text.find(token) if token in text else 0
    start = max(0, i - width)
    return ("…" if start else "") + excerpt(text[start:], 2 * width + len(token))


# -- repetition --------------------------------------------------------------------------------

_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]?")
_PUNCT_TO_SPACE = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"})
_ENDS_TO_DOT = str.maketrans({"!": ".", "?": ".", "\n": "."})
# The same two tables for ASCII bytes: bytes.translate is a plain table lookup, several times
# faster than str.translate (most answers are ASCII).
_PUNCT_TO_SPACE_B = repeats.PUNCT_TO_SPACE_B
_ENDS_TO_DOT_B = bytes.maketrans(b"!?\n", b"...")
# Whitespace to str.split()/strip() but not to bytes.split()/strip(): such text takes the str
# path so both paths cut the same tokens.
_STR_ONLY_SPACE = re.compile("[\x1c-\x1f]")
# (unit length in tokens, repeats in a row that count as a loop)
_LOOPS = ((1, 6), (2, 4), (3, 4), (4, 4))
MIN_SENTENCE = 12  # characters: shorter lines ("thanks.", "step 1.") repeat legitimately


def _looping_unit(toks: list) -> list | None:
    """The first unit of 1-4 tokens repeated back to back often enough, or None."""
    for n, times in _LOOPS:
        need = n * (times - 1)  # toks[i] == toks[i + n] must hold this many times in a row
        # The common case is decided at C speed, without building the list of comparisons.
        if operator.countOf(map(operator.eq, toks, toks[n:]), True) < need:
            continue
        eq = list(map(operator.eq, toks, toks[n:]))
        run = 0
        for i, same in enumerate(eq):
            run = run + 1 if same else 0
            if run >= need:
                unit = toks[i - run + 1 : i - run + 1 + n]
                if not all(t.isdigit() for t in unit):  # tables of numbers repeat
                    return unit
    return None


def repetition_reason(text: str) -> str | None:
    """Why an answer is degenerate, or None.

    Two signs of a model (or a template) stuck in a loop, both rare in real answers:
    a unit of 1-4 tokens repeated back to back (``the the the the the the``, ``I am I am I am
    I am``), or a sentence/line that occurs 3+ times and covers 30%+ of the text. Code and
    numbers may repeat legitimately and are ignored.
    """
    text = _CODE.sub(" ", text) if "`" in text else text
    if not text.isascii():
        from curate.audit.diversity import tokens_of

        unit = _looping_unit(tokens_of(text))
        if unit:
            return _loop_reason(unit)
        return _sentence_reason([s.casefold() for s in _SENTENCE.findall(text)], str)
    if _STR_ONLY_SPACE.search(text):  # rare: str methods, for their notion of whitespace
        lowered = text.lower()
        unit = _looping_unit(lowered.translate(_PUNCT_TO_SPACE).split())
        if unit:
            return _loop_reason(unit)
        return _sentence_reason(lowered.translate(_ENDS_TO_DOT).split("."), str)
    # ASCII: the same tokens and sentences cut by bytes methods (table lookups in C, faster
    # than str.translate with a mapping).
    lowered_b = text.encode("ascii").lower()
    unit = _looping_unit(lowered_b.translate(_PUNCT_TO_SPACE_B).split())
    if unit:
        return _loop_reason([t.decode("ascii") for t in unit])
    parts = lowered_b.translate(_ENDS_TO_DOT_B).split(b".")
    return _sentence_reason(parts, lambda s: s.decode("ascii"))


def repetition_reasons(texts: Sequence[str]) -> list[str | None]:
    """``[repetition_reason(t) for t in texts]``, with most plain-ASCII answers ruled out at
    once by ``repeats.candidates`` (a necessary condition): the detector runs on the rest."""
    out: list[str | None] = [None] * len(texts)
    ascii_rows: list[int] = []
    ascii_texts: list[bytes] = []
    for i, text in enumerate(texts):
        cut = _CODE.sub(" ", text) if "`" in text else text
        if cut.isascii():
            ascii_rows.append(i)
            ascii_texts.append(cut.encode("ascii"))
        else:
            out[i] = repetition_reason(text)
    maybe = repeats.candidates(ascii_texts, _LOOPS, MIN_SENTENCE)
    for j in np.flatnonzero(maybe):
        i = ascii_rows[int(j)]
        out[i] = repetition_reason(texts[i])
    return out


def _loop_reason(unit: list[str]) -> str:
    times = dict(_LOOPS)[len(unit)]
    return f"{' '.join(unit)!r} repeated {times}+ times in a row"


def _sentence_reason(parts: list, to_str: Callable) -> str | None:
    """A sentence (12+ characters) that occurs 3+ times and covers 30%+ of the sentences."""
    strip = bytes.strip if parts and isinstance(parts[0], bytes) else str.strip
    sentences = [x for x in map(strip, parts) if len(x) >= MIN_SENTENCE]
    if len(sentences) - len(set(sentences)) < 2:
        return None  # no sentence can occur 3 times
    counts: dict = {}
    for s in sentences:
        counts[s] = counts.get(s, 0) + 1
    s, k = max(counts.items(), key=lambda kv: (kv[1], len(kv[0])))
    if k >= 3 and k * len(s) >= 0.3 * sum(len(x) for x in sentences):
        return f"sentence repeated {k} times: {excerpt(to_str(s), 80)!r}"
    return None


def repetition(convs: Sequence[Conv]) -> list[Finding]:
    reasons = repetition_reasons([t for c in convs for t in c.assistant_turns])
    flagged = [i for i, r in enumerate(reasons) if r]  # few: look up their conversations
    if not flagged:
        return []
    ends = np.cumsum([len(c.assistant_turns) for c in convs])
    hits: list[tuple[Conv, str, str]] = []  # each conversation's first flagged turn
    last = -1
    for i, k in zip(flagged, np.searchsorted(ends, flagged, side="right").tolist(), strict=True):
        if k != last:  # turns come in order: the first flagged one of conversation k
            last = k
            c = convs[k]
            turn = c.assistant_turns[i - int(ends[k]) + len(c.assistant_turns)]
            hits.append((c, reasons[i], turn))  # type: ignore[arg-type]
    c, reason, turn = hits[0]
    return [
        Finding(
            code="repetition",
            message=f"{len(hits)} answers repeat themselves degenerately",
            lines=[h[0].line for h in hits],
            rows=[h[0].row for h in hits],
            example=f"line {c.line}: {reason}: {excerpt(turn, 200)}",
            detail={"reasons": {str(h[0].line): h[1] for h in hits[:100]}},
        )
    ]


# -- structure ---------------------------------------------------------------------------------


def missing_user(convs: Sequence[Conv]) -> list[Finding]:
    bad = [c for c in convs if not c.has_user]
    if not bad:
        return []
    roles = sorted({str(m.get("role")) for m in bad[0].messages})
    return [
        Finding(
            code="missing_user",
            message=f"{len(bad)} conversations have no user turn",
            lines=[c.line for c in bad],
            rows=[c.row for c in bad],
            example=f"line {bad[0].line}: roles {json.dumps(roles, ensure_ascii=False)}",
        )
    ]


# Prompts that ask for an explanation; a one-line answer to them is trivially short.
_OPEN_ENDED = re.compile(
    r"\b(?:explain|describe|compare|discuss|elaborate|why|how (?:do|does|can|would|should)"
    r"|what (?:is|are) the differences?|difference between|walk me through|summari[sz]e"
    r"|outline)\b|解释|说明|描述|比较|为什么|如何|怎么",
    re.IGNORECASE,
)
EXPLAIN_MIN_WORDS = 6


def _too_short_for(prompt: str, answer: str) -> bool:
    if len(answer) > 80 or "```" in answer:  # (callers test the length first: no prompt needed)
        return False  # cheap tests first: most answers are long enough
    if not _OPEN_ENDED.search(prompt[:500]):
        return False
    from curate.audit.diversity import tokens_of

    return len(tokens_of(answer)) < EXPLAIN_MIN_WORDS


def short_answers(convs: Sequence[Conv], config: AuditConfig) -> list[Finding]:
    """Empty, missing or trivially short final answers, grouped by kind."""
    kinds: dict[str, list[Conv]] = {"no_answer": [], "empty": [], "short": [], "terse": []}
    for c in convs:
        if c.answer is None:
            kinds["no_answer"].append(c)
        elif not c.answer.strip():
            kinds["empty"].append(c)
        elif estimate_tokens(c.answer.strip()) < config.min_answer_tokens:
            kinds["short"].append(c)
        elif len(c.answer) <= 80 and _too_short_for(_last_user(c), c.answer):
            kinds["terse"].append(c)
    messages = {
        "no_answer": "conversations end without any assistant turn",
        "empty": "final answers are empty",
        "short": f"final answers are shorter than {config.min_answer_tokens} tokens",
        "terse": f"answers to explain/describe/why prompts have under {EXPLAIN_MIN_WORDS} words",
    }
    out = []
    for kind, group in kinds.items():
        if group:
            c = group[0]
            out.append(
                Finding(
                    code="short_answer",
                    message=f"{len(group)} {messages[kind]}",
                    lines=[x.line for x in group],
                    rows=[x.row for x in group],
                    example=(
                        f"line {c.line}: user: {excerpt(c.role_text.get('user'), 120)}\n"
                        f"assistant: {c.answer!r}"
                    ),
                    detail={"kind": kind},
                )
            )
    return out


_VERBS = (
    r"(?:help|assist|provide|comply|fulfil+|do that|answer that|create|generate|engage|support"
    r"|share|write)"
)


def _last_user(c: Conv) -> str:
    for m in reversed(c.messages):
        if m.get("role") == "user":
            from curate.chat import message_text

            return message_text(m)
    return ""


# A refusal is the assistant declining the request, in its own voice. Strong forms name the
# request or the assistant itself ("help with that", "this request", "as an AI"); weak forms
# are a first-person "sorry, I can't ..." that also opens a text the user asked to have
# written in someone's voice ("Generate an excuse for not coming to work" -> "I'm sorry, but
# I won't be able to come in today"), so they count only when the task is not such a text.
_REQUEST = r"(?:that|this|these|those|it|such|your|the request|any|with|you)"
_NEG = (
    r"(?:can['’]?t|cannot|can not|won['’]?t|will not|am unable to|['’]m unable to"
    r"|am not able to|['’]m not able to)"
)
_STRONG_REFUSALS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"\bi {_NEG} (?:help|assist|comply|fulfil+|do that|answer that|engage in|support"
        rf"|provide|generate|create|write|share|complete) ?(?:you )?{_REQUEST}\b",
        r"\bas an ai(?: language model| assistant| model)?,? i(?: can['’]?t| cannot| don['’]?t"
        r"| do not| am not| am unable|['’]m not|['’]m unable)",
        r"\bas an ai language model\b",
        r"\bi (?:must|have to) (?:respectfully )?decline (?:to (?:help|assist|answer|provide"
        r"|comply|engage|write|generate|create|share)|(?:this|your|that) request)\b",
        r"\b(?:this|your|that) request\b.{0,40}\b(?:can['’]?t|cannot|unable|not able|decline)"
        r"|\b(?:can['’]?t|cannot|unable to|not able to|decline)\b.{0,40}\b(?:this|your|that) "
        r"request\b",
        r"(?:抱歉|对不起|很遗憾)[，,、]?\s*(?:但)?我(?:无法|不能|没法)"
        r"(?:提供|回答|帮助|协助|满足|完成|生成|处理|执行|参与|讨论)",
        r"作为一个?(?:人工智能|AI)(?:语言模型|助手)?[，,]\s*我(?:无法|不能)",
    )
]
_WEAK_REFUSALS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^\W*(?:i['’]?m|i am) (?:sorry|afraid),? (?:but )?i\b",
        r"^\W*(?:sorry|unfortunately),? (?:but )?i(?: can['’]?t| cannot| can not| am unable"
        r"| am not able|['’]m unable|['’]m not able| won['’]?t)",
        rf"\bi (?:can['’]?t|cannot|can not) {_VERBS}",
        rf"\bi(?: am|['’]m) (?:not able|unable) to {_VERBS}",
        r"\bi (?:must|have to) (?:respectfully )?decline\b",
        r"(?:抱歉|对不起|很遗憾)[，,、]?\s*(?:但)?我(?:无法|不能|没法)",
    )
]
# The user asks for a text in someone's voice (an excuse, an apology, a decline letter, a
# character's line): its first-person "I'm sorry, I can't" is the task, not a refusal.
_VOICED_TASK = re.compile(
    r"\b(?:write|generate|compose|draft|create|come up with|make up|give|suggest"
    r"|imagine|reply|respond)\b.{0,80}?\b(?:excuses?|apolog\w*|letters?"
    r"|e-?mails?|messages?|notes?|replies|reply|responses?|texts?|dialog(?:ue)?s?"
    r"|conversations?|stor(?:y|ies)|scripts?|speech|tweets?|posts?|poems?|rejections?"
    r"|refusals?|declin\w*|scenes?|monologues?|characters?|voicemails?|sms)\b"
    r"|\b(?:pretend|role-?play|act as|in the voice of|as if you were|you are playing)\b"
    r"|(?:写|生成|编|起草).{0,20}(?:借口|道歉|信|邮件|消息|回复|对话|故事|拒绝)|扮演",
    re.IGNORECASE | re.DOTALL,
)


# Words every refusal pattern contains; a plain substring test rules out almost every answer.
_REFUSAL_HINTS = (
    "sorry", "afraid", "unable", "not able", "can't", "can’t", "cant", "cannot", "can not",
    "won't", "won’t", "wont", "will not",
    "as an ai", "decline", "request", "抱歉", "对不起", "很遗憾", "无法", "不能",
)  # fmt: skip


# An ASCII text holds none of the others: fewer scans for the common case. "request" is
# left out too: every pattern that can match ASCII text also holds another hint ("this
# request" comes with can't / cannot / unable / not able / decline), and on ASCII text
# IGNORECASE folds nothing but A-Z, so ``lower()`` sees what the patterns see. (Answers that
# merely mention a request are common: 5% of the benchmark's, each worth 13 regex searches.)
_ASCII_REFUSAL_HINTS = tuple(h for h in _REFUSAL_HINTS if h.isascii() and h != "request")


def _hints_for(lowered: str) -> tuple[str, ...]:
    return _ASCII_REFUSAL_HINTS if lowered.isascii() else _REFUSAL_HINTS


def refusal_pattern(text: str, task: str = "") -> str | None:
    """The refusal phrase that opens ``text`` (an assistant turn), or None.

    ``task`` is the user's text: when it asks for a text in someone's voice (an excuse,
    a decline letter), only refusals that name the request or the assistant count.
    """
    head = text[:300]
    lowered = head.lower()
    if not any(h in lowered for h in _hints_for(lowered)):
        return None
    for pattern in _STRONG_REFUSALS:
        m = pattern.search(head)
        if m:
            return m.group(0).strip()
    if task and _VOICED_TASK.search(task[:1000]):
        return None
    for pattern in _WEAK_REFUSALS:
        m = pattern.search(head)
        if m:
            return m.group(0).strip()
    return None


def hinted(texts: Sequence[str]) -> list[int]:
    """The indices of ``texts`` whose lowered form holds a refusal hint (``_hints_for``), in
    order: ``refusal_pattern``'s first test for a whole batch. ASCII texts (almost all) are
    joined and lowered once and each hint is searched with ``str.find`` over all of them,
    instead of an ``in`` test per hint and text (the Python loop was ~30% of ``refusals``); no
    hint holds the separator (NUL), so no match spans two texts."""
    found: list[int] = []
    joined = "\x00".join(texts)
    if joined.isascii():  # one C call for the usual batch
        plain: Sequence[int] = range(len(texts))
    else:
        plain = []
        for i, text in enumerate(texts):
            if text.isascii():
                plain.append(i)
            else:  # (a non-ASCII text may lower to ASCII: the Kelvin sign)
                low = text.lower()
                if any(h in low for h in _hints_for(low)):
                    found.append(i)
        joined = "\x00".join([texts[i] for i in plain])
    if plain:
        joined = joined.lower()
        sizes = map(len, texts) if len(plain) == len(texts) else (len(texts[i]) for i in plain)
        ends = np.cumsum(np.fromiter(sizes, np.int64, len(plain)) + 1)
        for h in _ASCII_REFUSAL_HINTS:
            at = joined.find(h)
            while at >= 0:
                k = int(ends.searchsorted(at, "right"))  # the text holding position ``at``
                found.append(plain[k])
                at = joined.find(h, int(ends[k]))  # the next text: one hit per text is enough
    return sorted(set(found))


def refusals(convs: Sequence[Conv]) -> list[Finding]:
    hits: list[tuple[Conv, str, str]] = []
    turns = [(c, turn) for c in convs for turn in c.assistant_turns]
    # refusal_pattern's first test, for all turns at once: most turns end here without a call.
    heads = [turn[:300] for _, turn in turns]
    for i in hinted(heads):
        c, turn = turns[i]
        if hits and hits[-1][0] is c:
            continue  # one hit per conversation: its first refusing turn
        found = refusal_pattern(turn, c.role_text.get("user", ""))
        if found:
            hits.append((c, found, turn))
    if not hits:
        return []
    c, phrase, turn = hits[0]
    return [
        Finding(
            code="refusal",
            message=f"{len(hits)} answers open with refusal boilerplate",
            lines=[h[0].line for h in hits],
            rows=[h[0].row for h in hits],
            example=f"line {c.line}: {excerpt(turn, 200)}",
            detail={"first_phrase": phrase},
        )
    ]


def record_findings(
    convs: Sequence[Conv], conflict_pool: Sequence[Conv], config: AuditConfig
) -> list[Finding]:
    """The per-record consistency findings in report order, the same for every engine.

    ``conflict_pool``: the conversations ``conflicting_answers`` compares (all of them
    locally; on Ray, those whose context repeats).
    """
    return [
        *missing_user(convs),
        *conflicting_answers(conflict_pool, config),
        *template_placeholders(convs),
        *repetition(convs),
        *short_answers(convs, config),
        *refusals(convs),
    ]


def flagged_rows(convs: Sequence[Conv], config: AuditConfig) -> set[int]:
    """The rows (``Conv.row``) of ``convs`` that a per-record detector of ``record_findings``
    flags (all but ``conflicting_answers``, which compares rows with each other). Each of them
    decides a row from that row alone, so ``record_findings`` over the flagged views gives the
    findings of all of them: the audit finds these a chunk of views at a time."""
    rows: set[int] = set()
    for found in (
        missing_user(convs),
        template_placeholders(convs),
        repetition(convs),
        short_answers(convs, config),
        refusals(convs),
    ):
        for f in found:
            rows.update(f.rows)
    return rows
