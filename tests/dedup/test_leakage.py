"""Decontamination: an eval set whose prompts were copied from a training file of another
shape (Alpaca there, chat here) and answered differently, as AlpacaEval's ``selfinstruct``
rows come from Self-Instruct's user-oriented set."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from curate.cli import main
from tests.dedup.dedup_data import chat, write_jsonl

TASKS = [
    ("Write a haiku about the first snow of winter.", ""),
    ("Summarize the meeting notes in two sentences.", "Budget approved; Q3 hiring paused."),
    ("Suggest three names for a coffee shop run by cats.", ""),
    ("Convert this temperature from Celsius to Fahrenheit.", "37 degrees"),
    ("Explain the offside rule in football to a child.", ""),
    ("Rewrite the sentence in the passive voice.", "The committee approved the plan."),
    ("List the steps to repot a houseplant.", ""),
    ("Classify the sentiment of this review.", "The battery died after two days."),
    ("Draft a polite reminder about an unpaid invoice.", ""),
    ("Give a recipe idea using leftover rice and eggs.", ""),
    ("Translate the phrase into Spanish.", "Where is the train station?"),
    ("What questions should I ask in a job interview for a data analyst role?", ""),
]
OTHER_TRAIN = [
    (f"Describe the history of the town number {k} in the valley.", "") for k in range(8)
]
NEW_EVAL = [
    "Plan a three-day trip to Lisbon on a student budget.",
    "Why do cats purr when they are content?",
    "Compose a limerick about a forgetful robot.",
    "How do I make my sourdough starter more active?",
]


def _alpaca(instruction: str, inp: str, output: str) -> dict:
    return {"instruction": instruction, "input": inp, "output": output}


def _write_json(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def _files(tmp_path: Path) -> tuple[Path, Path]:
    train = [
        _alpaca(i, x, f"Training answer {k}: short and plain.")
        for k, (i, x) in enumerate(TASKS + OTHER_TRAIN)
    ]
    # The eval set: the copied prompts (Alpaca's instruction + blank line + input) answered by
    # another model, and some new prompts.
    evals = [
        chat(f"{i}\n\n{x}" if x else i, f"Model output {k}, long and different from training.")
        for k, (i, x) in enumerate(TASKS)
    ] + [chat(q, "An answer nobody trained on.") for q in NEW_EVAL]
    return (
        write_jsonl(tmp_path / "eval.jsonl", evals),
        _write_json(tmp_path / "self_instruct_like.json", train),
    )


def _run(*args: str):  # noqa: ANN202 - click Result
    return CliRunner().invoke(main, ["dedup", *args])


def test_against_other_shape_finds_every_copied_prompt_by_default(tmp_path: Path) -> None:
    evals, train = _files(tmp_path)
    out, rej = tmp_path / "clean.jsonl", tmp_path / "rej.jsonl"
    res = _run(str(evals), "-o", str(out), "--against", str(train), "--rejects", str(rej), "--json")
    assert res.exit_code == 1, res.stderr  # leaks were removed: a finding
    assert "dedup: exit 1: 12 of 16 records rejected" in res.stderr
    report = json.loads(res.stdout)
    assert report["against_key"] == "prompt"
    assert report["against_records"] == len(TASKS) + len(OTHER_TRAIN)
    assert sorted(lk["line"] for lk in report["leaks"]) == list(range(1, len(TASKS) + 1))
    rows = [json.loads(x) for x in rej.read_text().splitlines()]
    assert {(r["stage"], r["reason"]) for r in rows} == {("leakage", "leaked")}
    assert len(out.read_text().splitlines()) == len(NEW_EVAL)
    # Whole conversations differ (other answers): that key finds none of the leaks.
    conv = _run(
        str(evals),
        "-o",
        str(out),
        "--against",
        str(train),
        "--against-key",
        "conversation",
        "--json",
    )
    assert json.loads(conv.stdout)["leaks"] == []


def test_against_folder_is_read_file_by_file(tmp_path: Path) -> None:
    evals, train = _files(tmp_path)
    folder = tmp_path / "bench"
    folder.mkdir()
    train.rename(folder / train.name)
    res = _run(
        str(evals),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--against",
        str(folder),
        "--json",
        "--allow-rejects",
    )
    assert res.exit_code == 0, res.stderr
    assert len(json.loads(res.stdout)["leaks"]) == len(TASKS)


def test_unconvertible_against_file_is_an_error_not_a_raw_compare(tmp_path: Path) -> None:
    evals, _ = _files(tmp_path)
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"q_text": "Write a haiku", "resp": "..."}])
    res = _run(str(evals), "-o", str(tmp_path / "o.jsonl"), "--against", str(odd))
    assert res.exit_code == 2
    assert f"against: {odd}:1: unknown_format" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "o.jsonl").exists()
    missing = _run(str(evals), "-o", str(tmp_path / "o.jsonl"), "--against", "nope.jsonl")
    assert missing.exit_code == 2
    assert "against: nope.jsonl: no such file or folder" in missing.stderr
