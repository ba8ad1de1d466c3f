"""Pairwise judge over a real loopback server: position swap, malformed answers, reasons."""

from __future__ import annotations

import pytest

from curate.errors import InputError
from curate.evaluate import Generation, Judge, parse_verdict
from curate.evaluate.client import ChatClient
from curate.evaluate.judge import combine, load_rubric, tally
from tests.evaluate.eval_helpers import biased_judge, fair_judge


def gen(i: int, base: str, tuned: str, ref: str = "Paris") -> Generation:
    prompt = [{"role": "user", "content": "Capital of France?"}]
    return Generation(f"g{i}", "t.jsonl", i, None, prompt, ref, base, tuned, "k", "k")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"reason": "B is right", "winner": "B"}', ("B", "B is right")),
        ('```json\n{"winner": "tie", "reason": "same"}\n```', ("tie", "same")),
        ('Sure. {"winner": "a", "reason": "x"} Hope that helps', ("A", "x")),
        ("Winner: B", ("B", "Winner: B")),
        ("I prefer the second one.", None),
        ('{"winner": "C"}', None),
        ("{not json", None),
    ],
)
def test_parse_verdict(text, expected):
    assert parse_verdict(text) == expected


def test_combine_counts_only_consistent_wins():
    assert combine("tuned", "tuned") == "tuned"
    assert combine("base", "base") == "base"
    assert combine("base", "tuned") == "tie"  # the judge followed the position
    assert combine("tuned", "tie") == "tie"
    assert combine("tuned", "unparsable") == "unparsable"


def test_fair_judge_asks_both_orders_and_keeps_reasons(chat_server):
    chat_server.responder = fair_judge
    judge = Judge(ChatClient(chat_server.url, "judge", backoff=0.001))
    result = judge.judge_all([gen(1, "Lyon", "Paris"), gen(2, "Paris", "Rome"), gen(3, "x", "y")])
    assert [j.outcome for j in result] == ["tuned", "base", "tie"]
    first = result[0]
    assert (first.base_first, first.tuned_first) == ("tuned", "tuned")
    assert first.reason_base_first == "B matches the reference"
    assert first.reason_tuned_first == "A matches the reference"
    # Each pair was shown twice, the fine-tune once as B and once as A.
    prompts = [r["body"]["messages"][-1]["content"] for r in chat_server.requests[:2]]
    assert "[Response A]\nLyon" in prompts[0] and "[Response A]\nParis" in prompts[1]
    assert all(r["body"]["model"] == "judge" for r in chat_server.requests)
    t = tally(result)
    assert (t.wins, t.ties, t.losses, t.unrated) == (1, 1, 1, 0)


def test_position_biased_judge_gives_ties_not_wins(chat_server):
    chat_server.responder = biased_judge
    result = Judge(ChatClient(chat_server.url, "judge")).judge_all([gen(1, "Lyon", "Paris")] * 4)
    t = tally(result)
    assert (t.wins, t.ties, t.losses) == (0, 4, 0)


def test_malformed_answer_is_retried_once_then_unparsable(chat_server):
    answers = iter(
        [
            "I like B.",
            '{"winner": "B", "reason": "r"}',  # order 1: retry works
            "no idea",
            "still no idea",
        ]
    )  # order 2: both malformed
    chat_server.responder = lambda body: next(answers)
    judge = Judge(ChatClient(chat_server.url, "judge"))
    [j] = judge.judge_all([gen(1, "Lyon", "Paris")])
    assert j.outcome == "unparsable"
    assert j.base_first == "tuned" and j.tuned_first == "unparsable"
    assert "still no idea" in j.raw_unparsable
    assert judge.stats == {"asked": 4, "malformed_answers": 3, "reused": 0}
    t = tally([j])
    assert (t.wins, t.ties, t.losses, t.unrated, t.rated) == (0, 0, 0, 1, 0)


def test_judge_survives_429_and_500(chat_server):
    chat_server.fail_with = [429, 500]
    chat_server.responder = fair_judge
    judge = Judge(ChatClient(chat_server.url, "judge", backoff=0.001))
    [j] = judge.judge_all([gen(1, "Lyon", "Paris")])
    assert j.outcome == "tuned"
    assert judge.client.stats["retries"] == 2


def test_custom_rubric_reaches_the_judge(chat_server, tmp_path):
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("Only brevity matters.\n")
    chat_server.responder = fair_judge
    Judge(
        ChatClient(chat_server.url, "j"), load_rubric(str(rubric)), with_reference=False
    ).judge_one(gen(1, "Lyon", "Paris"))
    text = chat_server.requests[0]["body"]["messages"][-1]["content"]
    assert "Only brevity matters." in text and "[Reference answer]" not in text
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(InputError, match="rubric file is empty"):
        load_rubric(str(empty))


def test_concurrent_judging_keeps_order_and_reuses_saved(chat_server):
    chat_server.responder = fair_judge
    judge = Judge(ChatClient(chat_server.url, "judge"), concurrency=4)
    gens = [gen(i, "Lyon", "Paris") if i % 2 else gen(i, "Paris", "Lyon") for i in range(8)]
    result = judge.judge_all(gens)
    assert [j.id for j in result] == [g.id for g in gens]
    assert [j.outcome for j in result] == ["base", "tuned"] * 4
    assert len(chat_server.requests) == 16
    saved = {j.id: j.as_dict() for j in result}
    changed = [*gens[:7], gen(7, "Lyon", "Rome")]  # the last pair has a new response
    again = judge.judge_all(changed, saved=saved)
    assert judge.stats["reused"] == 7 and len(chat_server.requests) == 18
    assert again[7].outcome == "tie" and again[:7] == result[:7]
