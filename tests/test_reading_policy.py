"""Every command over ONE hostile file: each keeps the bad-line policy docs/reading.md documents.

The file holds a broken JSON line (2), blank lines (3, 7), an Alpaca row in a chat file (4), a
row of no known shape (5) and good chat rows (1, 6, 8, 9). Each test checks the exit code (read
from the table in docs/reading.md) and where every bad line went: a rejects file with reason and
line, a finding, a skipped entry, or a one-line error naming file:line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from curate.cli import main
from curate.errors import InputError
from curate.reader import chat_view, read_chat
from curate.records import BadLine, Record
from curate.stage import Dropped

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reading.md"
GOOD = ["c1", "c2", "c3", "c4"]


def _chat(rid: str, user: str, answer: str) -> str:
    msgs = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return json.dumps({"messages": msgs, "id": rid})


LINES = [
    _chat("c1", "What is the capital of France?", "Paris is the capital of France."),
    '{"messages": [broken json',
    "",
    json.dumps({"instruction": "Name a primary colour.", "output": "Red.", "id": "a1"}),
    json.dumps({"text": "just some text, no chat", "id": "n1"}),
    _chat("c2", "How many legs does a spider have?", "A spider has eight legs."),
    "   ",
    _chat("c3", "What gas do plants absorb?", "Plants absorb carbon dioxide."),
    _chat("c4", "Who wrote Hamlet?", "William Shakespeare wrote Hamlet."),
]


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    return path


def documented_exit(command: str) -> int:
    """The exit column of ``command``'s row in docs/reading.md's per-command table."""
    for row in DOCS.read_text().splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if cells and cells[0] == f"`{command}`":
            return int(cells[2])
    raise AssertionError(f"docs/reading.md has no row for {command}")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def where(rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(r["line"], r["reason"]) for r in rows]


def test_validate(hostile: Path, tmp_path: Path) -> None:
    result = run("validate", hostile, "--rejects", tmp_path / "rej.jsonl", "--json")
    assert result.exit_code == documented_exit("validate"), result.stderr
    rejects = jsonl(tmp_path / "rej.jsonl")
    assert where(rejects) == [(2, "json_decode"), (4, "conversion_error"), (5, "missing_messages")]
    assert rejects[0]["raw"] == LINES[1] and rejects[2]["record"]["id"] == "n1"
    report = json.loads(result.stdout)
    assert (report["records"], report["valid"]) == (7, 4)
    assert report["stats"]["blank_line_numbers"] == [3, 7]


def test_convert(hostile: Path, tmp_path: Path) -> None:
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    result = run("convert", hostile, "-o", out, "--rejects", rej)
    assert result.exit_code == documented_exit("convert"), result.stderr
    assert [r["id"] for r in jsonl(out)] == GOOD
    assert where(jsonl(rej)) == [(2, "json_decode"), (4, "conversion_error"), (5, "unknown_format")]


def test_dedup(hostile: Path, tmp_path: Path) -> None:
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    result = run("dedup", hostile, "-o", out, "--rejects", rej)
    assert result.exit_code == documented_exit("dedup"), result.stderr
    assert where(jsonl(rej)) == [(2, "json_decode")]
    kept = jsonl(out)
    assert [r["id"] for r in kept] == ["c1", "a1", "n1", "c2", "c3", "c4"]
    assert kept[1] == json.loads(LINES[3])  # written as read, not as converted chat
    # A non-chat row has no prompt side: one line naming it, exit 2.
    result = run("dedup", hostile, "-o", tmp_path / "p.jsonl", "--key", "prompt")
    assert result.exit_code == 2
    assert f"{hostile}:5: no chat messages to take the prompt side of" in result.stderr


def test_dedup_compares_an_alpaca_row_as_chat(tmp_path: Path) -> None:
    """The Alpaca row and a chat row with the same turns are one record to dedup."""
    path = tmp_path / "mixed.jsonl"
    alpaca = {"instruction": "Who wrote Hamlet?", "output": "William Shakespeare wrote Hamlet."}
    path.write_text(LINES[8] + "\n" + json.dumps(alpaca) + "\n")
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    result = run("dedup", path, "-o", out, "--rejects", rej, "--allow-rejects")
    assert result.exit_code == 0, result.stderr
    assert [r["id"] for r in jsonl(out)] == ["c4"]
    [dropped] = jsonl(rej)
    assert (dropped["line"], dropped["reason"], dropped["record"]) == (
        2,
        "exact_duplicate",
        alpaca,
    )


def test_dedup_against(hostile: Path, tmp_path: Path) -> None:
    clean = tmp_path / "clean.jsonl"
    clean.write_text(LINES[0] + "\n")
    result = run("dedup", clean, "-o", tmp_path / "o.jsonl", "--against", hostile)
    assert result.exit_code == documented_exit("dedup --against")
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"Error: against: {hostile}:2: json_decode: ")
    )


def test_audit(hostile: Path) -> None:
    result = run("audit", hostile, "--json")
    assert result.exit_code == documented_exit("audit"), result.stderr
    findings = {f["code"]: f for f in json.loads(result.stdout)["findings"]}
    assert findings["unreadable"]["lines"] == [2]
    assert findings["not_chat"]["lines"] == [4, 5]


def test_split(hostile: Path, tmp_path: Path) -> None:
    result = run("split", hostile, "-o", tmp_path / "split")
    assert result.exit_code == documented_exit("split")
    assert f"{hostile}:2: json_decode: " in result.stderr
    assert "(try curate run)" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "split").exists()


def test_run(hostile: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run("run", hostile, "-o", out, "--test-size", "0.25", "--val-size", "0")
    assert result.exit_code == documented_exit("run"), result.stderr
    rejects = jsonl(out / "rejects.jsonl")
    assert where(rejects) == [(2, "json_decode"), (4, "conversion_error"), (5, "unknown_format")]
    kept = [r["id"] for name in ("train", "test") for r in jsonl(out / f"{name}.jsonl")]
    assert sorted(kept) == GOOD
    read = json.loads((out / "manifest.json").read_text())
    assert "blank_lines" in json.dumps(read) and '"blank_lines": 2' in json.dumps(read)


def test_train(hostile: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "train"
    result = run("train", hostile, "-o", out, "--model", tiny_model_dir, "--max-steps", "1")
    assert result.exit_code == documented_exit("train"), result.stderr
    for line, reason in [(2, "json_decode"), (4, "not_chat"), (5, "not_chat")]:
        assert f"{hostile}:{line}: {reason}: " in result.stderr
    assert where(jsonl(out / "preflight_rejects.jsonl")) == [
        (2, "json_decode"),
        (4, "not_chat"),
        (5, "not_chat"),
    ]
    assert not (out / "adapter_model.safetensors").exists()


def test_eval(hostile: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "eval"
    args = ["--base", tiny_model_dir, "--tuned", tiny_model_dir, "--max-new-tokens", "2"]
    result = run("eval", hostile, "-o", out, *args, "--device", "cpu")
    assert result.exit_code == documented_exit("eval"), result.stderr
    report = json.loads((out / "eval.json").read_text())
    assert report["data"]["evaluated"] == 4 and report["data"]["input_records"] == 7
    assert where(report["skipped"]) == [(2, "json_decode"), (4, "no_messages"), (5, "no_messages")]


# -- the reader itself --------------------------------------------------------------------


def test_read_chat_policies(hostile: Path) -> None:
    drops: list[Dropped] = []
    chat = read_chat(hostile, on_drop=drops.append)
    assert [r.data["id"] for r in chat] == GOOD
    assert where([{"line": d.record.line, "reason": d.reason} for d in drops]) == [
        (2, "json_decode"),
        (4, "conversion_error"),
        (5, "unknown_format"),
    ]
    assert (chat.stats.records, chat.stats.bad_lines, chat.stats.blank_lines) == (6, 1, 2)
    assert chat.converter.source_format == "chat"

    kept = list(read_chat(hostile, on_bad="keep"))
    assert [type(i).__name__ for i in kept] == ["Record", "BadLine", *["Record"] * 5]
    assert isinstance(kept[1], BadLine) and kept[2].data == json.loads(LINES[3])  # as read

    with pytest.raises(InputError, match=re.escape(f"x: {hostile}:2: json_decode: ")):
        list(read_chat(hostile, on_bad="raise", prefix="x: "))
    with pytest.raises(InputError, match=r":4: conversion_error: .* \(hint\)$"):
        list(read_chat(hostile, on_bad="keep", on_unconvertible="raise", hint=" (hint)"))
    with pytest.raises(ValueError, match="needs on_drop"):
        read_chat(hostile)


def test_read_chat_per_record_shape_and_as_read(hostile: Path) -> None:
    drops: list[Dropped] = []
    chat = read_chat(
        hostile, detect="record", on_unconvertible="keep", on_drop=drops.append, keep_read=True
    )
    records = list(chat)
    assert [r.line for r in records] == [1, 4, 5, 6, 8, 9]
    assert records[1].data["messages"][1] == {"role": "assistant", "content": "Red."}
    assert chat.as_read is not None and chat.as_read[1].data == json.loads(LINES[3])
    assert records[2] is chat.as_read[2]  # no known shape: the same record, unconverted


def test_chat_view_converts_only_what_it_knows() -> None:
    alpaca = Record("f", 1, {"instruction": "I", "output": "O"})
    assert chat_view(alpaca).data["messages"][0] == {"role": "user", "content": "I"}
    plain = Record("f", 2, {"text": "x"})
    assert chat_view(plain) is plain


def test_dedup_against_names_the_odd_line_not_the_first_normal_one(tmp_path: Path) -> None:
    """Regression: --against files were held to the shape of their FIRST record, so a file of
    chat rows behind one Alpaca row failed at line 2 (a good chat row). The reader decides a
    file's format by majority, like every other command, and names line 1."""
    against = tmp_path / "against.jsonl"
    alpaca = json.dumps({"instruction": "Name a primary colour.", "output": "Red."})
    against.write_text("\n".join([alpaca, LINES[0], LINES[5], LINES[7]]) + "\n")
    clean = tmp_path / "clean.jsonl"
    clean.write_text(LINES[8] + "\n")
    result = run("dedup", clean, "-o", tmp_path / "o.jsonl", "--against", against)
    assert result.exit_code == 2
    assert f"against: {against}:1: conversion_error: looks like alpaca" in result.stderr
