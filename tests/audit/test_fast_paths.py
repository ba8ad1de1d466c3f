"""Every audit shortcut against the slow path it replaces, on adversarial inputs.

The shortcuts (batched prefilters, precomputed texts) must give the same answers as the plain
code, not nearly the same: each test builds texts made to sit on the edges of the fast path
and compares results one by one.
"""

from __future__ import annotations

import random

import pytest

from curate.audit import repeats
from curate.audit.consistency import repetition_reason, repetition_reasons

# Small vocabularies make loops and repeated sentences common; the odd pieces probe case,
# punctuation, every kind of whitespace, digits, code spans and non-ASCII text.
WORDS = ["the", "The", "THE", "a", "I", "am", "go", "to", "it", "0", "1", "42", "x_y", "don't"]
SEPS = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", ", ", ". ", "! ", "? ", "-", "_"]
ODD = [
    "\x00",
    "a\x00b",
    "`x x x x x x`",
    "```\ngo go go go go go\n```",
    "é",
    "\x1c",
    "\x1f",
    "...",
    "\n\n",
    "。",
]
SENTENCES = [
    "This is a long enough sentence.",
    "this is a long enough sentence!",
    "  This is a long enough sentence  .",
    "This  is a long enough\tsentence.",
    "Short one.",
    "Another sentence that is long?",
]


def _text(rng: random.Random) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(0, 40)):
        r = rng.random()
        if r < 0.1:
            parts.append(rng.choice(ODD))
        elif r < 0.3:
            parts.append(rng.choice(SENTENCES) + rng.choice(["\n", " ", ""]))
        elif r < 0.4:
            unit = [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]
            parts.append(rng.choice(SEPS).join(unit * rng.randint(2, 7)))
        else:
            parts.append(rng.choice(WORDS))
        parts.append(rng.choice(SEPS))
    return "".join(parts)


def test_batched_repetition_equals_the_detector_on_fuzzed_texts() -> None:
    rng = random.Random(15)
    texts = [_text(rng) for _ in range(3000)] + ["", " ", "\n", ".", "x"]
    fast = repetition_reasons(texts)
    slow = [repetition_reason(t) for t in texts]
    assert fast == slow
    flagged = sum(r is not None for r in slow)
    assert 300 < flagged < len(texts) - 300  # both outcomes well represented


def test_batched_repetition_keeps_answers_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    # A loop or a sentence split over two neighbouring answers is no loop of either; tiny
    # chunks put chunk edges between every few answers as well.
    monkeypatch.setattr(repeats, "CHUNK_BYTES", 40)
    texts = [
        "go go go",
        "go go go",
        "This is a long enough sentence. This is a long enough sentence.",
        "This is a long enough sentence. The end of it all is here.",
        "I am I am",
        "I am I am",
        "word word word word word word",  # a real loop, alone in its answer
        "Values 1 1 1 1 1 1 1 and go go go go go go",
    ]
    fast = repetition_reasons(texts)
    assert fast == [repetition_reason(t) for t in texts]
    assert [r is not None for r in fast] == [False] * 6 + [True, True]


def test_batched_repetition_ignores_code_like_the_detector() -> None:
    texts = [
        "See `go go go go go go go` here and nothing else",
        "```\nrow row row row row row row\n```\nThat code is fine.",
        "Numbers 7 7 7 7 7 7 7 7 repeat in tables",
        "Ünïcode go go go go go go",  # non-ASCII: the str path
        "tab\x1cseparated go go go go go go",  # str-only whitespace: the str path
    ]
    fast = repetition_reasons(texts)
    assert fast == [repetition_reason(t) for t in texts]
    assert [r is not None for r in fast] == [False, False, False, True, True]


def test_batched_repetition_on_answers_that_are_all_odd() -> None:
    texts = ["\x00 go go go go go go", "\x1c", "a\x00a\x00a"]
    assert repetition_reasons(texts) == [repetition_reason(t) for t in texts]
    assert repetition_reasons([]) == []


ODD_MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": ["part one", {"type": "text", "text": "part two"}, {"x": 1}]},
    {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f"}}]},
    {"role": "tool", "content": "42"},
    {"role": 7, "content": 3.5},
    {"role": None, "content": "no role"},
    {"content": "missing role"},
    {"role": "assistant", "content": "", "tool_calls": []},
    {"role": "user", "content": "最后一个问题?"},
    {"role": "assistant", "content": "Answer with `code` and more."},
    {"role": "user", "content": "trailing question"},
]


def test_conversation_views_equal_the_chat_helpers() -> None:
    # to_conv builds each message's text once and the context from those texts; the shape
    # counts tokens from them: both must equal the chat helpers' own results.
    from curate.audit.convs import to_conv
    from curate.chat import message_text, side_text
    from curate.records import Record
    from curate.tokens import TokenCounter

    counter = TokenCounter(None)
    rng = random.Random(7)
    for k in range(600):
        if k % 2:  # one turn per role (the usual record), or none of the assistant
            pool = [ODD_MESSAGES[i] for i in (0, 1, 2, 3, 4, 5)]
            msgs = [dict(m) for m in rng.sample(pool, rng.randint(1, len(pool)))]
        else:
            msgs = [dict(m) for m in rng.sample(ODD_MESSAGES, rng.randint(1, len(ODD_MESSAGES)))]
        data = {"messages": msgs, **({"tools": [{"name": "t"}]} if rng.random() < 0.3 else {})}
        c = to_conv(Record(data=data, line=1, source="x"))
        assert c is not None
        assert c.texts == [message_text(m) for m in msgs]
        assert c.roles == [str(m.get("role")) for m in msgs]
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=-1)
        context = side_text(msgs[:last] if last >= 0 else msgs, "conversation")
        if "tools" in data:
            context += '\n<tools> [{"name":"t"}]'
        assert c.context == context
        # The roles' texts (joined when a role repeats, in first-appearance order), the
        # assistant turns and the answer, whether or not a role repeats.
        parts: dict = {}
        for m in msgs:
            parts.setdefault(str(m.get("role")), []).append(message_text(m))
        assert c.role_text == {r: "\n\n".join(p) for r, p in parts.items()}
        assert list(c.role_text) == list(parts)
        assert c.assistant_turns == parts.get("assistant", [])
        assert c.answer == (parts["assistant"][-1] if "assistant" in parts else None)
        by_role, total = counter.count_conversation(c.messages, c.roles, c.texts)
        assert by_role == counter.count_by_role(msgs)
        assert total == counter.count_messages(msgs)


def test_language_counts_equal_their_regexes() -> None:
    import re

    from curate import language as lang

    ascii_word = re.compile(r"[a-z']+")
    pieces = ["the", "The", "don't", "l'eau", "_x_", "a1b", "42", "’", "'", "ÉTÉ", "été", "naïve"]
    pieces += ["中文", "かな", "한국", "\t", "\n", " ", "...", "-", "Ǆ", "ß", "x'y'z", "O'Neil's"]
    rng = random.Random(3)
    for _ in range(2000):
        text = "".join(rng.choice(pieces) + rng.choice(["", " ", ", "]) for _ in range(30))
        text = text[: rng.randint(0, len(text))]
        assert lang._letter_count(text) == len(lang._LETTERS.findall(text))
        for n in (1, 4, 9):
            assert lang._has_words(text, n) == (len(lang._WORDS.findall(text)) >= n)
        if text.isascii():
            words = ascii_word.findall(text.lower())
            slow = len(words) >= 5 and sum(w in lang._EN_WORDS for w in words) >= 0.2 * len(words)
            assert lang.english_fast_path(text) == slow


def test_squeezed_key_is_the_norm_without_spaces() -> None:
    # conflicting_answers skips contexts whose squeezed key is unique: sound only because
    # the key is a function of the norm.
    from curate.audit.convs import norm, squeezed

    pieces = [
        "Hello",
        "hello",
        "HELLO",
        "wörld",
        "ＷＯＲＬＤ",
        "ﬁne",
        "_",
        "__x",
        "1,000",
        "ß",
        "SS",
    ]
    pieces += [" ", "\t", "\n", "!!", "...", "-", "中文", "Ǆ", "İ", "\x00", "e\u0301", "é"]
    rng = random.Random(5)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        key = norm(text).replace(" ", "")
        assert squeezed(text) == (key.encode("ascii") if key.isascii() else key)


def test_ascii_gram_codes_equal_the_code_point_path() -> None:
    import numpy as np

    from curate.audit.consistency import _gram_codes, _gram_jaccard, _grams, _wide, jaccard
    from curate.dedup.near import sorted_unique

    rng = random.Random(9)
    for _ in range(500):
        t = "".join(rng.choice("ab c\x00\x7f~") for _ in range(rng.randint(5, 60)))
        u = np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        slow = sorted_unique((u[:-3] << 48) | (u[1:-2] << 32) | (u[2:-1] << 16) | u[3:])
        fast = _gram_codes(t)  # uint32 byte codes, widened to the code-point ones
        assert isinstance(fast, np.ndarray) and _wide(fast).tolist() == slow.tolist()
        assert len(fast) == len(_grams(t))
        # An ASCII answer against a non-ASCII one (uint32 codes against uint64 ones).
        other = t[: rng.randint(0, len(t))] + rng.choice("\u00e9\u4e2d\u00ff") + t[:9]
        got = _gram_jaccard(fast, t, _gram_codes(other), other)
        assert got == jaccard(_grams(t), _grams(other)), (t, other)


def test_style_features_equal_the_plain_regexes() -> None:
    from curate.audit import style

    def slow(text: str) -> dict[str, bool]:  # features_of without its hints
        fence, is_json = "```" in text, style._is_json(text)
        text = style._CODE.sub(" ", text) if "`" in text else text
        return {
            "code_fence": fence,
            "json": is_json,
            "heading": bool(style._HEADING.search(text)),
            "bullet_list": len(style._BULLET.findall(text)) >= 2,
            "numbered_list": len(style._NUMBERED.findall(text)) >= 2,
            "table": len(style._TABLE.findall(text)) >= 2,
            "bold": bool(style._BOLD.search(text)),
        }

    pieces = [
        "- a",
        "* b",
        "+ c",
        "• d",
        "1. x",
        "12) y",
        "1234. z",
        "# H",
        "## ",
        "|a|b|",
        "**b**",
    ]
    pieces += ["text", "`- no`", "```\n- a\n- b\n```", "\u2003", "\x0c", "\x1c", "-x", "1.x", "{}"]
    seps = ["\n", "\n\n", " ", "\n  ", "\t", "\r\n", "\n\u00a0", ""]
    rng = random.Random(11)
    for _ in range(4000):
        text = "".join(rng.choice(pieces) + rng.choice(seps) for _ in range(rng.randint(0, 8)))
        assert style.features_of(text) == slow(text), repr(text)


def test_refusal_hints_rule_out_only_texts_no_pattern_matches() -> None:
    from curate.audit import consistency as C

    def slow(text: str, task: str) -> str | None:  # the patterns with no hint in front
        head = text[:300]
        for pattern in C._STRONG_REFUSALS:
            if m := pattern.search(head):
                return m.group(0).strip()
        if task and C._VOICED_TASK.search(task[:1000]):
            return None
        for pattern in C._WEAK_REFUSALS:
            if m := pattern.search(head):
                return m.group(0).strip()
        return None

    pieces = ["I'm sorry,", "I am afraid", "but I", "I can't", "I can’t", "I cannot", "I can not"]
    pieces += ["help with that", "As an AI language model,", "I must decline", "this request"]
    pieces += ["I won't", "I am unable to", "I'm not able to", "provide", "write", "that", "É"]
    pieces += ["抱歉，我无法", "提供", "作为一个AI，我不能", "Sure!", "Here", ".", "\n", "İ"]
    # "request" is no hint in ASCII text: each pattern that holds it holds another hint too.
    pieces += ["your request", "That REQUEST", "request.", "Unfortunately, I", "unable", "ſorry"]
    rng = random.Random(13)
    tasks = ["", "Write an excuse email", "Explain DNS"]
    for _ in range(8000):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        task = rng.choice(tasks)
        assert C.refusal_pattern(text, task) == slow(text, task), text


def test_vectorised_shape_counts_equal_the_per_conversation_loop() -> None:
    # ``shape._estimated`` (every message at once, bincount) against ``_counted`` (the
    # TokenCounter loop) on conversations with missing, repeated and odd roles, CJK, empties.
    from curate.audit import shape
    from curate.audit.convs import to_conv
    from curate.records import Record
    from curate.tokens import TokenCounter, estimate_many, estimate_tokens

    texts = ["", "hi", "a b c d e", "这是中文", "mixed 中文 text", "ｆｕｌｌ", "x" * 37, "é"]
    roles = ["system", "user", "assistant", "tool", "", "human", None, 3]
    rng = random.Random(17)
    rows = []
    for _ in range(300):
        msgs = [
            {"role": rng.choice(roles), "content": rng.choice(texts)}
            for _ in range(rng.randint(1, 6))
        ]
        rows.append({"messages": msgs})
    convs = [to_conv(Record("t", i + 1, r, i), i) for i, r in enumerate(rows)]
    assert all(c is not None for c in convs)
    fast = shape._estimated(convs)  # type: ignore[arg-type]
    slow = shape._counted(convs, TokenCounter(None))  # type: ignore[arg-type]
    assert fast == slow
    assert [type(x) for x in fast[4]] == [int] * len(convs)  # plain ints for the page's JSON
    assert estimate_many(texts).tolist() == [estimate_tokens(t) for t in texts]


def test_batched_refusal_hints_equal_the_per_text_test() -> None:
    # ``hinted`` (ASCII texts joined, lowered and searched once) against the per-text test it
    # replaced, on batches mixing ASCII, non-ASCII, texts lowering to ASCII (Kelvin sign),
    # NULs (the separator), hints at the edges of texts and several hints in one text.
    from curate.audit import consistency as C

    def slow(texts: list[str]) -> list[int]:
        out = []
        for i, text in enumerate(texts):
            low = text.lower()
            if any(h in low for h in C._hints_for(low)):
                out.append(i)
        return out

    pieces = ["sorry", "SORRY", "can't", "can’t", "Cannot", "can", "not", " able", "decline"]
    pieces += ["request", "REQUEST", "\u212a", "K", "as an AI", "无法", "\x00", "", "x", "will"]
    pieces += ["won", "t", "'", " ", "é", "ſorry", "İ", "wont", "unable", "afraid", "cant"]
    rng = random.Random(19)
    for _ in range(600):
        texts = [
            "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
            for _ in range(rng.randint(0, 12))
        ]
        if rng.random() < 0.5:  # all-ASCII batches take the one-join path
            texts = [t for t in texts if t.isascii()]
        assert C.hinted(texts) == slow(texts), texts


def test_conversation_view_equals_the_plain_walk() -> None:
    # ``to_conv`` (one turn per role: no joining; plain contents inline) against the plain
    # walk over the messages, on repeated, missing and odd roles, tool calls and part lists.
    import orjson

    from curate.audit.convs import to_conv
    from curate.chat import message_text
    from curate.records import Record

    def slow(data: dict, row: int) -> tuple:
        msgs = data["messages"]
        texts = [message_text(m) for m in msgs]
        roles = [str(m.get("role")) for m in msgs]
        parts: dict[str, list[str]] = {}
        for role, text in zip(roles, texts, strict=True):
            parts.setdefault(role, []).append(text)
        turns = [t for r, t in zip(roles, texts, strict=True) if r == "assistant"]
        k = max((i for i, r in enumerate(roles) if r == "assistant"), default=len(msgs))
        context = "\n".join(f"<{msgs[i].get('role')}> {texts[i]}" for i in range(k))
        if data.get("tools"):
            tools = orjson.dumps(data["tools"], option=orjson.OPT_SORT_KEYS).decode()
            context += "\n<tools> " + tools
        role_text = {r: "\n\n".join(p) for r, p in parts.items()}
        answer = turns[-1] if turns else None
        return (msgs, role_text, list(role_text), context, answer, turns, row, roles, texts)

    roles = ["system", "user", "assistant", "assistant", "tool", None, 3, ""]
    contents = ["hi", "", "two\nlines", [{"type": "text", "text": "part"}], None, 5]
    rng = random.Random(23)
    for i in range(2000):
        msgs = []
        for _ in range(rng.randint(1, 7)):
            m = {"role": rng.choice(roles), "content": rng.choice(contents)}
            if rng.random() < 0.1:
                m["tool_calls"] = [{"name": "f", "arguments": {"b": 1, "a": 2}}]
            msgs.append(m)
        data = {"messages": msgs, **({"tools": [{"z": 1, "a": 2}]} if rng.random() < 0.2 else {})}
        c = to_conv(Record("t", i + 1, data, i), i)
        assert c is not None
        got = (c.messages, c.role_text, list(c.role_text), c.context, c.answer)
        got += (c.assistant_turns, c.row, c.roles, c.texts)
        assert got == slow(data, i), msgs


def test_candidate_tables_cut_tokens_as_the_detector() -> None:
    # ``repeats`` no longer lowers the text nor blanks its punctuation before cutting tokens:
    # one table per byte says what the lowered, blanked byte would be (token byte, space, or
    # an odd byte that sends the answer to the exact detector).
    for c in range(256):
        blanked = bytes([c]).lower().translate(repeats.PUNCT_TO_SPACE_B)
        expected = 2 if bytes([c]) in repeats._ODD else 0 if blanked.isspace() else 1
        assert repeats._WORD_ODD[c] == expected, c
        # The token key's first byte: equal lowered bytes, equal keys.
        assert (c | 0x20) == (bytes([c]).lower()[0] | 0x20), c


def test_candidates_hold_every_repeating_answer_in_any_case() -> None:
    # Case-mixed loops and sentences (the key reads the raw first byte, lowered by bit 0x20).
    rng = random.Random(20)
    texts = []
    for _ in range(2000):
        t = _text(rng)
        texts.append("".join(ch.upper() if rng.random() < 0.3 else ch for ch in t))
    slow = [repetition_reason(t) for t in texts]
    assert repetition_reasons(texts) == slow
    plain = [i for i, t in enumerate(texts) if t.isascii() and "`" not in t]
    maybe = repeats.candidates(
        [texts[i].encode() for i in plain], ((1, 6), (2, 4), (3, 4), (4, 4)), 12
    )
    assert all(maybe[k] for k, i in enumerate(plain) if slow[i] is not None)
    assert sum(slow[i] is not None for i in plain) > 100


def _conflicting_answers_reference(convs: list, config: object) -> list:
    """``conflicting_answers`` as it was before its shortcuts (copies of one context skip the
    norm, one answer text skips the grams, a variant's grams made when first compared)."""
    from collections import Counter

    from curate.audit.consistency import GRAM_CHARS, _gram_codes, _gram_jaccard, conflict_finding
    from curate.audit.convs import norm, squeezed

    asked = [c for c in convs if c.answer is not None and c.has_user]
    keys = [squeezed(c.context) for c in asked]
    shared = Counter(keys)
    groups: dict = {}
    for c, key in zip(asked, keys, strict=True):
        if shared[key] > 1:
            groups.setdefault(norm(c.context), []).append(c)
    findings = []
    for members in groups.values():
        if len(members) < 2:
            continue
        variants: list = []
        seen: dict = {}
        for c in members:
            key = norm(c.answer or "")
            if key in seen:
                seen[key].append(c)
                continue
            head = key[:GRAM_CHARS]
            grams = _gram_codes(head)
            for rep, rep_head, bucket in variants:
                if _gram_jaccard(grams, head, rep, rep_head) >= config.conflict_similarity:  # type: ignore[attr-defined]
                    bucket.append(c)
                    seen[key] = bucket
                    break
            else:
                variants.append((grams, head, [c]))
                seen[key] = variants[-1][2]
        if len(variants) < 2:
            continue
        findings.append(conflict_finding(members, [bucket for *_, bucket in variants]))
    findings.sort(key=lambda f: f.lines[0])
    return findings


def test_conflicting_answers_equal_the_plain_grouping() -> None:
    from curate.audit.consistency import conflicting_answers
    from curate.audit.convs import to_conv
    from curate.audit.model import AuditConfig
    from curate.records import Record

    # Few prompts and answers, written in ways that normalise alike or nearly alike (case,
    # spacing, punctuation, NFKC forms, non-ASCII), so groups of copies, of variants, of one
    # answer text and of answers equal only after normalisation all occur; lines repeat
    # (several sources) to probe the order of groups with equal first lines.
    prompts = [
        "Explain X.",
        "explain  x",
        "EXPLAIN X!",
        "Ｅｘｐｌａｉｎ X",
        "Expla in X",
        "Why?",
        "w hy",
        "中文?",
    ]
    answers = [
        "Because of Y.",
        "because of y",
        "Because  of Y!!",
        "Because of Z, mostly.",
        "A completely different answer about something else entirely.",
        "",
        "Çà et là.",
        "ca et la",
        "x" * 2500,
        "x" * 2500 + "y",
    ]
    systems = [None, "Be brief.", "be brief"]
    rng = random.Random(11)
    for config in (AuditConfig(), AuditConfig(conflict_similarity=0.3)):
        for _ in range(20):
            convs = []
            for row in range(rng.randint(0, 60)):
                msgs = []
                system = rng.choice(systems)
                if system is not None:
                    msgs.append({"role": "system", "content": system})
                if rng.random() < 0.95:
                    msgs.append({"role": "user", "content": rng.choice(prompts)})
                if rng.random() < 0.95:
                    msgs.append({"role": "assistant", "content": rng.choice(answers)})
                c = to_conv(Record("x", rng.randint(1, 4), {"messages": msgs}), row)
                if c is not None:
                    convs.append(c)
            got = conflicting_answers(convs, config)
            assert got == _conflicting_answers_reference(convs, config)


def test_feature_rows_equal_feature_row_per_text() -> None:
    import numpy as np

    from curate.audit.style import FEATURES, feature_row, feature_rows

    # List items at a text's start, after blank lines, after whitespace-only texts (whose
    # ``\s*`` in the joined search reaches back over the separator), with every kind of
    # whitespace, Unicode digits and bullets, items cut at a text's end, and the other
    # features' characters (which send a text to ``feature_row``): JSON bodies among them,
    # at a text's start or after whitespace (``_is_json`` strips the text).
    pieces = ["- a", "* b", "+ c", "• d", "1. e", "12) f", "1234. g", "٣. h", "-x", "1.x", "- "]
    pieces += ["\n", "\n\n", " ", "\t", "\r\n", "\x1c", "\x0b", "\u2028", "\u3000", "word", "é"]
    pieces += [
        "# h",
        "|",
        "**b**",
        "`c`",
        "```\n- a\n- b\n```",
        "{",
        "[",
        "}",
        "]",
        '{"a": 1}',
        "[1, 2]",
        ' {"k": [1]}',
        "x.",
        "2.",
        "\n3. i",
        "\n- j",
    ]
    rng = random.Random(21)
    texts: list[str] = ["", " ", "\n", "- a\n- b", "\n- a\n\n- b", "1. a\n2. b", "- a"]
    for _ in range(4000):
        # One text in five of one or two pieces: those are where whole JSON bodies occur.
        size = rng.randint(0, 14) if rng.random() < 0.8 else rng.randint(1, 2)
        text = "".join(rng.choice(pieces) for _ in range(size))
        if rng.random() < 0.5:  # most texts without the other features' characters
            text = "".join(ch for ch in text if ch not in "`#|*{[")
        texts.append(text)
    for size in (1, 2, 7, len(texts)):
        for start in range(0, len(texts), size):
            chunk = texts[start : start + size]
            got = feature_rows(chunk)
            assert got.shape == (len(chunk), len(FEATURES))
            assert got.tolist() == [list(feature_row(t)) for t in chunk]
    rows = np.array([feature_row(t) for t in texts])
    assert 100 < rows[:, 3].sum() < len(texts) - 100
    assert 100 < rows[:, 4].sum() < len(texts) - 100
    # JSON bodies with nothing else that sends them to ``feature_row``, some led by
    # whitespace: the fast path's JSON guards (first character ``{``/``[``, or whitespace).
    alone = [t for t, row in zip(texts, rows, strict=True) if row[1] and not set(t) & set("`#|*")]
    assert sum(not t[:1].isspace() for t in alone) >= 10
    assert sum(t[:1].isspace() for t in alone) >= 10


def test_template_placeholders_equal_the_plain_loop() -> None:
    import re

    from curate.audit import consistency
    from curate.audit.convs import to_conv
    from curate.records import Record

    def placeholders_reference(text: str) -> list[str]:  # placeholders_in, no shortcuts
        prose = consistency._CODE.sub(" ", text)
        found: list[str] = []
        for pattern in consistency._PLACEHOLDERS:
            for m in pattern.finditer(prose):
                tok = re.sub(r"\s+", "", m.group(0)) if m.group(0).startswith("{{") else m.group(0)
                if tok not in found:
                    found.append(tok)
        return found

    pieces = ["{{name}}", "{{ user.name }}", "{ {x}}", "{", "{{", "[Your Name]", "[insert date]"]
    pieces += ["<INSERT>", "[COMPANY_NAME]", "<NAME>", "[TODO]", "[x]", "<b>", "a < b", "`{{c}}`"]
    pieces += ["```\n[Your Name]\n```", "`", "text", "é", "中文", " ", "\n", "\x00"]
    roles = ["system", "user", "assistant", "user", "assistant", "tool"]
    rng = random.Random(13)
    for _ in range(60):
        convs = []
        for row in range(rng.randint(0, 40)):
            msgs = [
                {
                    "role": rng.choice(roles),
                    "content": "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))),
                }
                for _ in range(rng.randint(1, 5))
            ]
            c = to_conv(Record("x", row + 1, {"messages": msgs}), row)
            if c is not None:
                convs.append(c)
        plain = [
            (c, role)
            for c in convs
            for role, text in c.role_text.items()
            if "{{" in text or "[" in text or "<" in text
        ]
        assert consistency._holding(convs, ("{{", "[", "<")) == plain
        for c, role in plain:
            text = c.role_text[role]
            assert consistency.placeholders_in(text) == placeholders_reference(text)
        assert consistency.template_placeholders(convs) == _placeholders_reference(
            convs, placeholders_reference
        )


def _placeholders_reference(convs: list, placeholders_in: object) -> list:
    """``template_placeholders`` before its batched first test (every role text in turn)."""
    from curate.audit.consistency import placeholder_findings

    by_token: dict = {}
    for c in convs:
        for role, text in c.role_text.items():
            for tok in placeholders_in(text):  # type: ignore[operator]
                by_token.setdefault(tok, []).append((c, role))
    return placeholder_findings(by_token)


def test_context_keys_group_equal_contexts_only() -> None:
    # ``context_key`` (CRC-32 and length of the squeezed context) decides which rows the
    # conflict detector sees: equal normalised contexts must share a key; the keys fit an
    # int64 array; distinct contexts of a varied sample do not collide.
    from curate.audit.convs import context_key, squeezed, to_conv
    from curate.records import Record

    rng = random.Random(8)
    words = ["Explain", "explain", "X", "x!", "ｘ", "Why", "中文", "é", "e\u0301", " ", "\n"]
    by_squeezed: dict = {}
    for row in range(3000):
        user = " ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))
        msgs = [{"role": "user", "content": user}, {"role": "assistant", "content": "a"}]
        c = to_conv(Record("x", row + 1, {"messages": msgs}), row)
        key = context_key(c)  # type: ignore[arg-type]
        assert 0 <= key < 2**63
        by_squeezed.setdefault(squeezed(c.context), set()).add(key)  # type: ignore[union-attr]
    assert all(len(keys) == 1 for keys in by_squeezed.values())
    distinct = [next(iter(keys)) for keys in by_squeezed.values()]
    assert len(set(distinct)) == len(distinct) > 500


def test_context_key_collision_costs_no_finding() -> None:
    # Two users with one CRC-32 and one length: their contexts share a context key. The
    # audit's shared-context grouping (``chunk_facts``' keys, ``_shared``, the worker's
    # ``row_findings``) passes all three rows on, and ``conflicting_answers`` must tell the
    # two contexts apart: exactly the plain grouping's one finding, rows 0 and 2.
    import zlib

    import orjson

    from curate.audit.convs import context_key, squeezed, to_conv
    from curate.audit.model import AuditConfig
    from curate.audit.run import _shared, chunk_facts, row_findings
    from curate.records import Record

    a, b = "hsjmfpguhofy", "gkuujhmjokcy"
    assert zlib.crc32(a.encode()) == zlib.crc32(b.encode())
    answers = [
        "Because of Y, as the first answer says.",
        "A completely different answer about something else entirely.",
        "Nothing like the first one: zebras, quartz and violins.",
    ]
    records = [
        Record(
            "x",
            row + 1,
            {
                "messages": [
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": answer},
                ]
            },
        )
        for row, (user, answer) in enumerate(zip((a, b, a), answers, strict=True))
    ]
    convs = [to_conv(r, row) for row, r in enumerate(records)]
    assert squeezed(convs[0].context) != squeezed(convs[1].context)  # type: ignore[union-attr]
    assert context_key(convs[0]) == context_key(convs[1])  # type: ignore[arg-type]
    config = AuditConfig()
    _, flagged, _, asked, keys = chunk_facts(records, 0, config)
    assert flagged == [] and len(set(keys.tolist())) == 1
    shared = _shared([asked], [keys])
    assert shared == [0, 1, 2]
    items = [(records[p].line, records[p].data, p) for p in shared]
    got = row_findings((orjson.dumps(items), 0, config))
    plain = _conflicting_answers_reference(convs, config)
    assert got == plain
    assert [f.rows for f in got] == [[0, 2]]
