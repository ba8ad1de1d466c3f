"""The split keeps records that share a prompt exactly on one side and counts such pairs
across sides (``exact_prompt``), by default; with ``split.leakage_key: prompt`` its whole
check is the one ``curate dedup --against`` runs (key ``prompt``), in ``curate split`` and
``curate run``.

Before: the split grouped and checked on dedup's key (the whole conversation), so a prompt
asked twice with different answers could land in train and in test while the split reported
leakage 0 (qa10 #6: 8 of 10 test records of fastchat's run had their prompt in train).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.chat import record_text
from curate.cli import main
from curate.dedup import key_text
from curate.split import SplitConfig, read_chat_records, split_records

# FastChat's dummy conversations ask a few identity prompts (one or two turns) many times,
# each time with another answer.
PROMPTS = [
    ["Who are you?"],
    ["Who are you?", "Have a nice day!"],
    ["What is up?", "Who are you?", "Goodbye"],
    ["What is your name?"],
    ["What is your name?", "Thanks"],
    ["Who made you?"],
    ["Who created you?", "Have a nice day!"],
    ["Are you ChatGPT?"],
    ["Can you tell me a little bit about yourself?"],
    ["Hello", "Who trained you?"],
    ["What's your name?", "Goodbye"],
    ["Are you a language model?"],
    # Near duplicates of each other (one word at the end), not exact.
    ["Please tell me in a few plain words who you are, what you can do and who first built you"],
    ["Please tell me in a few plain words who you are, what you can do and who first trained you"],
]
ANSWERS = [
    "I am Vicuna, a language model trained by researchers from LMSYS.",
    "My name is Vicuna; a team at a university lab built me to chat.",
    "People call me Vicuna. I answer questions and write drafts on request.",
    "You can call me Vicuna, an open chat assistant fine-tuned from LLaMA.",
    "Vicuna here: a research model, not a product, made for experiments.",
    "I'm an assistant named Vicuna and my weights were released openly.",
    "Sure! I go by Vicuna and I was fine-tuned on shared conversations.",
]
FACTS = [
    ("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius."),
    ("Name the largest planet in our solar system.", "Jupiter is the largest planet."),
    ("Who wrote Pride and Prejudice?", "Jane Austen wrote it in 1813."),
    ("How many continents are there?", "Most geographers count seven continents."),
    ("What gas do plants absorb?", "Plants take in carbon dioxide for photosynthesis."),
    ("Translate 'thank you' into French.", "In French you say merci."),
    ("What is the square root of 144?", "The square root of 144 is 12."),
    ("Give me a synonym for happy.", "Joyful is a common synonym."),
    ("Which ocean is the deepest?", "The Pacific holds the Mariana Trench, the deepest point."),
    ("How do I reverse a list in Python?", "Call my_list.reverse() or use slicing."),
    ("What does CPU stand for?", "It stands for central processing unit."),
    ("Suggest a name for a bakery.", "How about Golden Crust Bakery?"),
    ("When did the first moon landing happen?", "Apollo 11 landed on the Moon in July 1969."),
    ("What is the capital of Canada?", "Ottawa is the capital of Canada."),
    ("Explain what a noun is.", "A noun names a person, place, thing or idea."),
    ("How many minutes are in a day?", "A day has 1,440 minutes."),
    ("What is the chemical symbol for gold?", "Gold's symbol is Au, from the Latin aurum."),
    ("Recommend a beginner exercise.", "Brisk walking for twenty minutes is a gentle start."),
    ("Why is the sky blue?", "Air scatters short blue wavelengths of sunlight the most."),
    ("What is a prime number?", "A whole number above one divisible only by one and itself."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted it in the early 1500s."),
    ("How far is the Moon?", "About 384,400 kilometres on average."),
    ("What language is spoken in Brazil?", "Portuguese is the official language of Brazil."),
    ("What does HTTP stand for?", "Hypertext Transfer Protocol."),
    ("How many strings does a violin have?", "A violin has four strings tuned in fifths."),
    ("Name a mammal that can fly.", "Bats are the only mammals capable of true flight."),
    ("What is the main ingredient of guacamole?", "Ripe avocado, mashed with lime and salt."),
    ("How do vaccines work?", "They train the immune system to recognise a pathogen early."),
]
CATEGORIES = ("identity", "chitchat", "facts")


def fastchat_like() -> list[dict]:
    """ShareGPT rows as FastChat's dummy file: each identity prompt asked 3 times, each time
    answered differently (later turns answered the same), and single fact questions."""
    rows = []
    for k, turns in enumerate(PROMPTS):
        for j in range(3):
            conv = []
            for t, text in enumerate(turns):
                answer = ANSWERS[(k + 3 * j + t) % len(ANSWERS)] if t == len(turns) // 2 else "Ok!"
                conv += [{"from": "human", "value": text}, {"from": "gpt", "value": answer}]
            category = CATEGORIES[min(k, 12) % 2]  # the near pair in one stratum
            row = {"id": f"identity_{len(rows)}", "category": category, "conversations": conv}
            rows.append(row)
    for q, a in FACTS:
        conv = [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
        rows.append({"id": f"fact_{len(rows)}", "category": "facts", "conversations": conv})
    return rows


@pytest.fixture
def fastchat_path(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "fastchat_like.json"
    path.parent.mkdir()
    path.write_text(json.dumps(fastchat_like(), indent=2), encoding="utf-8")
    return path


def _prompts(records) -> set[str]:
    return {key_text(r, "prompt") for r in records}


def _near_pair(records) -> set[str]:
    return {s for s in _prompts(records) if s.startswith("Please tell me")}


@pytest.mark.parametrize("semantic", [False, True])
def test_same_prompts_stay_on_one_side_by_default(fastchat_path: Path, semantic: bool) -> None:
    records = read_chat_records(str(fastchat_path))
    result = split_records(records, SplitConfig(test_size=0.2, seed=3, semantic=semantic))
    train, test = result.splits["train"], result.splits["test"]
    assert len(train) + len(test) == len(records)
    assert len({record_text(r.data) for r in records}) == len(records)
    assert _prompts(train).isdisjoint(_prompts(test))
    assert result.leakage["key"] == "conversation" and result.leakage["total"] == 0
    assert "exact_prompt" in result.leakage["by_method"]
    assert result.stats["prompt_clusters"] == len(PROMPTS)
    assert result.stats["records_in_prompt_clusters"] == 3 * len(PROMPTS)
    assert _prompts(test) & {key_text(r, "prompt") for r in records[: 3 * len(PROMPTS)]}
    assert not result.off_target


def test_exact_prompt_leak_is_counted_without_grouping() -> None:
    # The check counts the same prompt across sides even when no grouping put them together.
    from curate.records import Record
    from curate.split import _leakage, _prompt_digests
    from curate.split.dupes import default_dedup_config

    rows = [
        {
            "messages": [
                {"role": "user", "content": "Who are you?"},
                {"role": "assistant", "content": a},
            ]
        }
        for a in ANSWERS[:2]
    ] + [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}]}]
    records = [Record("a.jsonl", i + 1, r) for i, r in enumerate(rows)]
    cfg = default_dedup_config(False)
    prompts = _prompt_digests(records, cfg)
    leaks = _leakage(records, ["train", "test", "train"], None, cfg, None, None, prompts)
    assert [m for _i, m, _j in leaks] == ["exact_prompt"]


@pytest.mark.parametrize("semantic", [False, True])
def test_shared_prompts_stay_on_one_side(fastchat_path: Path, semantic: bool) -> None:
    records = read_chat_records(str(fastchat_path))
    config = SplitConfig(test_size=0.2, seed=3, semantic=semantic, leakage_key="prompt")
    result = split_records(records, config)
    train, test = result.splits["train"], result.splits["test"]
    assert len(train) + len(test) == len(records) == 3 * len(PROMPTS) + len(FACTS)
    # Every identity prompt appears three times with three different conversations.
    assert len({record_text(r.data) for r in records}) == len(records)
    assert _prompts(train).isdisjoint(_prompts(test))
    # The two near-identical prompts (one word apart) went to the same side.
    assert len(_near_pair(train)) in (0, 2) and len(_near_pair(test)) in (0, 2)
    assert result.leakage["key"] == "prompt" and result.leakage["total"] == 0
    assert result.stats["leak_key_clusters"] >= len(PROMPTS) - 1
    assert _prompts(test) & {key_text(r, "prompt") for r in records[: 3 * len(PROMPTS)]}
    assert not result.off_target


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _flagged_by_dedup_against(out: Path, tmp_path: Path, method: str | None = None) -> int:
    """How many test records ``curate dedup test.jsonl --against train.jsonl`` (its default
    key, prompt; its default methods or ``method``) finds in train."""
    more = ["--method", method] if method else []
    code, stdout, err = _cli(
        "dedup",
        str(out / "test.jsonl"),
        "-o",
        str(tmp_path / "dedup-check.jsonl"),
        "--against",
        str(out / "train.jsonl"),
        "--leak-action",
        "flag",
        "--json",
        *more,
    )
    assert code in (0, 1), err
    report = json.loads(stdout)
    assert report["against_key"] == "prompt"
    return len(report["leaks"])


def test_cli_split_default_leaves_no_exact_prompt_in_train(
    fastchat_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "split"
    code, stdout, err = _cli(
        "split", str(fastchat_path), "-o", str(out), "--test-size", "0.2", "--json"
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert report["leakage"]["total"] == 0
    assert _flagged_by_dedup_against(out, tmp_path, "exact") == 0
    assert report["counts"]["test"] > 0


def _opt_in(tmp_path: Path) -> str:
    path = tmp_path / "prompt-key.yaml"
    path.write_text("split:\n  leakage_key: prompt\n", encoding="utf-8")
    return str(path)


def test_cli_split_agrees_with_dedup_against(fastchat_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    code, stdout, err = _cli(
        "split",
        str(fastchat_path),
        "-o",
        str(out),
        "--test-size",
        "0.2",
        "--config",
        _opt_in(tmp_path),
        "--json",
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert report["leakage"]["total"] == _flagged_by_dedup_against(out, tmp_path) == 0
    assert report["leakage"]["key"] == "prompt"
    assert report["counts"]["test"] > 0


def test_cli_split_stratified_within_tolerance(fastchat_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    code, stdout, err = _cli(
        "split",
        str(fastchat_path),
        "-o",
        str(out),
        "--test-size",
        "0.2",
        "--stratify",
        "category",
        "--no-semantic",
        "--json",
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert not report["shares"]["off_target"]
    by = {s["stratum"]: s for s in report["strata"]}
    assert set(by) == set(CATEGORIES)
    for s in by.values():
        # Whole groups of three: a stratum's test side is within a group of its exact share.
        assert abs(s["test"] - 0.2 * s["records"]) <= 3, s
    assert report["leakage"]["total"] == _flagged_by_dedup_against(out, tmp_path, "exact") == 0


@pytest.mark.parametrize("semantic", ["--no-semantic", "--semantic"])
@pytest.mark.parametrize("opt_in", [False, True])
def test_cli_run_agrees_with_dedup_against(
    fastchat_path: Path, tmp_path: Path, semantic: str, opt_in: bool
) -> None:
    out = tmp_path / "run"
    config = ["--config", _opt_in(tmp_path)] if opt_in else []
    code, stdout, err = _cli(
        "run",
        str(fastchat_path),
        "-o",
        str(out),
        "--test-size",
        "0.2",
        semantic,
        "--allow-rejects",
        "--json",
        *config,
    )
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    leakage = report["split"]["leakage"]
    if opt_in:
        assert leakage["total"] == _flagged_by_dedup_against(out, tmp_path) == 0
        assert leakage["key"] == "prompt"
    else:
        assert leakage["total"] == _flagged_by_dedup_against(out, tmp_path, "exact") == 0
        assert leakage["key"] == "conversation"
    test = [json.loads(line) for line in (out / "test.jsonl").read_text().splitlines()]
    assert len(test) >= 5


def test_records_without_a_prompt_are_not_one_group() -> None:
    # Guard for the grouping above: blank prompts all "match", but the check skips them.
    from curate.records import Record

    rows = [
        {"messages": [{"role": "assistant", "content": f"answer {i} about things {i * 3}"}]}
        for i in range(30)
    ]
    records = [Record("a.jsonl", i + 1, r) for i, r in enumerate(rows)]
    result = split_records(records, SplitConfig(semantic=False))
    assert len(result.splits["test"]) == 3 and result.leakage["total"] == 0
    assert result.stats["prompt_clusters"] == 0
    config = SplitConfig(semantic=False, leakage_key="prompt")
    assert split_records(records, config).stats["leak_key_clusters"] == 0
