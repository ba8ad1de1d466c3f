"""Core helpers shared by every stage: the stage contract, chat text views, tokens, language."""

from __future__ import annotations

from click.testing import CliRunner

from curate.chat import record_text, side_text
from curate.cli import main
from curate.language import UNKNOWN, detect_language
from curate.records import Record
from curate.stage import Dropped, collect
from curate.tokens import TokenCounter, estimate_tokens

CONVO = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "4"},
    {"role": "assistant", "content": "4"},
]


def test_side_text_separates_prompt_and_response() -> None:
    prompt = side_text(CONVO, "prompt")
    response = side_text(CONVO, "response")
    assert prompt == "<system> Be brief.\n<user> What is 2+2?"
    assert response.startswith('<assistant> [{"function":')
    assert '"name":"add"' in response and response.endswith("<assistant> 4")
    assert "<tool> 4" in side_text(CONVO, "conversation")
    assert record_text({"messages": CONVO}, "prompt") == prompt
    assert record_text({"no": "messages"}) == ""


def test_collect_keeps_order_and_accounts_for_every_record() -> None:
    records = [Record("f.jsonl", i, {"n": i}) for i in range(1, 8)]

    def odd_only(r: Record) -> Record | Dropped:
        return r if r.data["n"] % 2 else Dropped(r, "test", "even_number", f"n={r.data['n']}")

    result = collect(odd_only, records)
    assert [r.line for r in result.kept] == [1, 3, 5, 7]
    assert len(result.kept) + len(result.dropped) == len(records)
    assert result.reasons() == {"even_number": 3}
    reject = result.dropped[0].to_reject()
    assert (
        reject["line"] == 2 and reject["reason"] == "even_number" and reject["record"] == {"n": 2}
    )


def test_record_id_prefers_own_id_field() -> None:
    assert Record("a.jsonl", 3, {"id": "row-9"}).id == "row-9"
    assert Record("a.jsonl", 3, {"id": True}).id == "a.jsonl:3"
    assert Record("a.jsonl", 3, {}).id == "a.jsonl:3"


def test_token_estimate_and_exact_count(tiny_model_dir) -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdefgh") == 2
    assert estimate_tokens("你好世界") == 4
    estimate = TokenCounter()
    assert not estimate.exact and estimate.method == "estimate"
    exact = TokenCounter(str(tiny_model_dir))
    msgs = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]
    rendered = exact.tokenizer.apply_chat_template(msgs, tokenize=False)
    assert exact.exact
    assert exact.count_messages(msgs) == len(exact.tokenizer(rendered)["input_ids"])
    assert exact.count_by_role(msgs)["user"] == len(exact.tokenizer("hello")["input_ids"])


def test_language_detection_is_deterministic() -> None:
    text = "Bonjour, je voudrais réserver une table pour deux personnes ce soir."
    assert {detect_language(text) for _ in range(5)} == {"fr"}
    assert detect_language("请介绍一下你自己，谢谢。") == "zh"
    assert detect_language("能介绍一下你自己吗？") == "zh"  # langdetect alone says ko
    assert detect_language("42 !!") == UNKNOWN


def test_every_command_is_documented_with_an_example() -> None:
    runner = CliRunner()
    for name, command in main.commands.items():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in (command.help or ""), f"`curate {name}` help has no Example"
