"""Each finding code: true positives on a small fixture, and nothing on the clean baseline."""

from __future__ import annotations

import pytest

from curate.audit import FINDING_CODES, AuditConfig, AuditReport, audit
from curate.audit.consistency import placeholders_in, refusal_pattern, repetition_reason
from tests.audit.audit_data import as_records, chat, clean_rows

NO_EMBED = AuditConfig(embeddings=False)


def run(rows: list[dict], config: AuditConfig = NO_EMBED) -> AuditReport:
    return audit(as_records(rows), config)


def lines_of(report: AuditReport, code: str) -> set[int]:
    return {ln for f in report.findings if f.code == code for ln in f.lines}


def test_clean_baseline_has_no_findings_at_all() -> None:
    report = run(clean_rows())
    assert [f.code for f in report.findings] == []
    assert all(report.metrics[code] == 0 for code in FINDING_CODES)


def test_conflicting_answers_groups_same_prompt_with_different_answers() -> None:
    rows = clean_rows(10)
    base = len(rows)
    rows += [
        chat("What is the capital of Australia?", "The capital of Australia is Canberra."),
        chat("what is the capital of australia", "Sydney is the capital city of Australia."),
        # Same prompt, answers differ only in punctuation/case: a rewording, not a conflict.
        chat("How many legs does a spider have?", "A spider has eight legs."),
        chat("How many legs does a spider have?", "a spider has eight legs!"),
    ]
    report = run(rows)
    found = [f for f in report.findings if f.code == "conflicting_answers"]
    assert len(found) == 1
    assert found[0].lines == [base + 1, base + 2]
    assert found[0].detail["variants"] == 2
    assert "Canberra" in found[0].example and "Sydney" in found[0].example
    assert report.metrics["conflicting_answers"] == 2


def test_conflicting_answers_respects_system_prompt() -> None:
    # Another system prompt may rightly ask for another answer.
    rows = [
        chat("Describe the sea.", "The sea is vast, blue and restless.", system="Be poetic."),
        chat("Describe the sea.", "Salt water covering 71% of Earth.", system="Be factual."),
    ]
    assert lines_of(run(rows), "conflicting_answers") == set()


def test_conflicting_answers_respects_the_tools_on_offer() -> None:
    # With a weather tool the model calls it; without one it explains it cannot.
    weather = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    with_tool = chat("Weather in Oslo?", "Calling get_weather for Oslo now.")
    with_tool["tools"] = weather
    without = chat("Weather in Oslo?", "Sorry, I have no access to live weather data.")
    assert lines_of(run([with_tool, without]), "conflicting_answers") == set()
    without["tools"] = weather
    assert lines_of(run([with_tool, without]), "conflicting_answers") == {1, 2}


def test_template_placeholder_finds_each_token_with_its_lines() -> None:
    rows = clean_rows(5) + [
        chat("Who are you?", "I am {{name}}, made by {{ author }}."),
        chat("Write a sign-off.", "Best regards,\n[Your Name]"),
        chat("Draft an intro.", "Welcome to <INSERT COMPANY>! We build tools."),
        chat("Greet the user", "Hello [COMPANY_NAME] customer, thanks for writing."),
    ]
    report = run(rows)
    tokens = {f.detail.get("placeholder"): f.lines for f in report.findings}
    assert tokens["{{name}}"] == [6]
    assert tokens["{{author}}"] == [6]
    assert tokens["[Your Name]"] == [7]
    assert tokens["<INSERT COMPANY>"] == [8]
    assert tokens["[COMPANY_NAME]"] == [9]
    assert report.metrics["template_placeholder"] == 4


def test_template_placeholder_ignores_code_citations_and_html() -> None:
    assert placeholders_in("Use `{{ user.name }}` in the template.") == []
    assert placeholders_in("```jinja\nHello {{ name }}\n```\nThat renders the name.") == []
    assert placeholders_in("As shown in [1] and <b>bold</b> text, [NOTE] this is fine.") == []
    assert placeholders_in("Hi {{name}}") == ["{{name}}"]


def test_repetition_flags_degenerate_loops_only() -> None:
    assert repetition_reason("the the the the the the the end") is not None
    assert repetition_reason("I am I am I am I am here") is not None
    looped = "I cannot stop now. " * 5 + "Done."
    assert "repeated" in (repetition_reason(looped) or "")
    assert repetition_reason(clean_rows(1)[0]["messages"][-1]["content"]) is None
    assert repetition_reason("Values: 0 0 0 0 0 0 0 0 and more") is None  # numbers repeat
    assert repetition_reason("```\nx x x x x x x x\n```\nThat code is fine.") is None

    rows = clean_rows(5) + [chat("Tell me a story.", "Once upon a time " + "and then " * 8)]
    report = run(rows)
    assert lines_of(report, "repetition") == {6}


def test_missing_user() -> None:
    rows = clean_rows(3) + [chat(None, "Hello, how can I help?", system="Be kind.")]
    report = run(rows)
    assert lines_of(report, "missing_user") == {4}


def test_short_answer_kinds() -> None:
    rows = clean_rows(3) + [
        chat("Explain gravity in detail.", ""),
        chat("Explain tides in detail.", "Moon."),
        chat("Explain rainbows in detail.", None),
        chat("Explain how a process differs from a thread.", "Threads share memory."),
        chat("What is the capital of France?", "Paris is the capital."),
    ]
    report = run(rows)
    kinds = {f.detail["kind"]: f.lines for f in report.findings if f.code == "short_answer"}
    assert kinds == {"empty": [4], "short": [5], "no_answer": [6], "terse": [7]}


def test_refusal_boilerplate() -> None:
    assert refusal_pattern("I'm sorry, but I can't help with that request.")
    assert refusal_pattern("As an AI language model, I do not have opinions.")
    assert refusal_pattern("抱歉，我无法回答这个问题。")
    assert refusal_pattern("I can't wait to help you plan the party!") is None
    assert refusal_pattern("Sorry to hear that! Here is what you can do.") is None
    rows = clean_rows(3) + [chat("How do I pick a lock?", "I'm sorry, but I cannot assist.")]
    assert lines_of(run(rows), "refusal") == {4}


def test_language_mismatch_both_directions() -> None:
    rows = clean_rows(3) + [
        chat(
            "Can you explain how photosynthesis works in plants and why it matters?",
            "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖和氧气的过程。",
        ),
        chat(
            "请详细解释一下光合作用的过程以及它为什么重要？",
            "Photosynthesis is how plants turn sunlight, water and carbon dioxide into sugar.",
        ),
        chat("请详细解释一下雨是怎么形成的？", "雨是由云中的小水滴聚集变大后落到地面形成的。"),
        # Translation requests expect another language back: not a mismatch.
        chat(
            "Please translate this sentence into Chinese: the weather is lovely today.",
            "今天的天气非常好，阳光明媚，适合出去散步。",
        ),
    ]
    report = run(rows)
    assert report.languages["translation_requests"] == 1
    pairs = {
        (f.detail["user_language"], f.detail["assistant_language"]): f.lines
        for f in report.findings
        if f.code == "language_mismatch"
    }
    assert pairs == {("en", "zh"): [4], ("zh", "en"): [5]}
    langs = {x["language"] for x in report.languages["conversation"]}
    assert {"en", "zh"} <= langs


def test_style_outlier_rare_formatting_and_length() -> None:
    rows = clean_rows(40)
    rows[9] = chat("Show me some code.", "Sure:\n```python\nprint('hi')\n```\nThat prints hi.")
    rows[19] = chat("Give me data.", '{"name": "tea", "kind": "green", "steeping_minutes": 3}')
    rows[29] = chat("Tell me everything.", " ".join(["This part goes on and on."] * 400))
    report = run(rows)
    kinds = {f.detail["kind"]: f.lines for f in report.findings if f.code == "style_outlier"}
    assert kinds["uses_code_fence"] == [10]
    assert kinds["uses_json"] == [20]
    assert 30 in kinds["length_long"]
    assert report.diversity["style"]["answers"] == 40


def test_markdown_inside_code_is_not_formatting() -> None:
    from curate.audit.style import features_of

    code = "```python\nclass A:\n    def __init__(self, **kwargs):\n        pass  # note\n```"
    f = features_of(code)
    assert f["code_fence"] and not f["bold"] and not f["heading"]
    assert features_of("Use **this** one.")["bold"]


def test_style_outlier_needs_a_baseline() -> None:
    rows = clean_rows(5) + [chat("Code?", "```\nx = 1\n```")]
    report = run(rows)
    assert lines_of(report, "style_outlier") == set()
    assert "baseline" in report.diversity["style"]["note"]


@pytest.mark.parametrize("code", sorted(FINDING_CODES))
def test_every_code_is_documented(code: str) -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    assert f"`{code}`" in doc


def test_fast_paths_give_what_the_plain_code_gives() -> None:
    # Pure-speed paths: 4-gram Jaccard from numpy codes, ASCII repetition on bytes.
    import random

    import numpy as np

    from curate.audit.consistency import _gram_codes, _gram_jaccard, _grams, jaccard
    from curate.dedup.near import sorted_unique

    rng = random.Random(0)
    alphabet = "ab c.\u00e9\u4e2d\U0001f600"  # ASCII, Latin-1, CJK, outside the BMP
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(300)]
    for a, b in zip(texts, texts[1:], strict=False):
        got = _gram_jaccard(_gram_codes(a), a, _gram_codes(b), b)
        assert got == jaccard(_grams(a), _grams(b)), (a, b)
    arr = np.array([5, 1, 5, 3, 1, 9], dtype=np.uint64)
    assert sorted_unique(arr).tolist() == np.unique(arr).tolist()
    # The str path (taken for text with \x1c-\x1f) and the bytes path agree.
    loop = "Well I am I am I am I am done"
    assert repetition_reason(loop) == repetition_reason(loop + "\x1c")
    said = "The cat sat on the mat. " * 3 + "Then it left."
    assert repetition_reason(said) == repetition_reason(said + "\x1c")
    assert repetition_reason(said) is not None


def test_first_findings_per_code_serve_the_card_and_the_page() -> None:
    """One function picks what the dataset card and the HTML page list of each code: its
    first five findings in order and how many more there are, in one pass."""
    from curate.audit.card import card_text
    from curate.audit.model import first_findings
    from curate.findings import Finding
    from curate.report.audit_page import render_audit_page

    made = [
        Finding(code=code, message=f"{code} number {k}", lines=[k + 1], rows=[k])
        for k, code in enumerate(["refusal"] * 7 + ["short_answer"] * 2)
    ]
    made.insert(1, made.pop(7))  # a short_answer among the refusals: order of first appearance
    shown, count = first_findings(iter(made))  # one pass: an iterator is enough
    assert list(shown) == ["refusal", "short_answer"]
    assert [f.message for f in shown["refusal"]] == [f"refusal number {k}" for k in range(5)]
    assert [f.message for f in shown["short_answer"]] == [
        "short_answer number 7",
        "short_answer number 8",
    ]
    assert count == {"refusal": 7, "short_answer": 2}
    assert first_findings(made, limit=2)[0]["refusal"] == made[0:1] + made[2:3]

    report = audit(as_records(clean_rows(30)), AuditConfig(embeddings=False, language_sample=0))
    report.findings = made
    card = card_text(report)
    assert "refusal number 4" in card and "refusal number 5" not in card
    assert "… and 2 more findings of this kind." in card
    assert card.count("more findings of this kind") == 1  # none for short_answer's two
    page = render_audit_page(report)
    assert "refusal number 4" in page and "refusal number 5" not in page
    assert "… and 2 more findings (all in --json)" in page
