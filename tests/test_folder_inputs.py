"""Folder inputs: every command reads a folder as `run` does, and each file keeps its own
format (qa10 #7, #10)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.formats import Converter
from curate.records import Record


def _sharegpt(i: int) -> dict:
    return {
        "conversations": [
            {"from": "human", "value": f"What is the capital of country number {i}?"},
            {"from": "gpt", "value": f"Country {i} has its capital in city {i * 7}."},
        ]
    }


def _chat(i: int) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"Write a haiku about the number {i}."},
            {"role": "assistant", "content": f"Number {i} / counting slowly up / {i + 1} waits"},
        ]
    }


def _alpaca(i: int) -> dict:
    return {"instruction": f"Who made assistant {i}?", "input": "", "output": f"Team {i}."}


def _mixed_folder(root: Path) -> Path:
    """The user's folder: ShareGPT .jsonl.gz, chat .parquet, an Alpaca .json array."""
    folder = root / "data"
    folder.mkdir()
    with gzip.open(folder / "glaive.jsonl.gz", "wt") as fh:
        fh.writelines(json.dumps(_sharegpt(i)) + "\n" for i in range(30))
    pq.write_table(pa.Table.from_pylist([_chat(i) for i in range(40)]), folder / "chat.parquet")
    (folder / "identity.json").write_text(json.dumps([_alpaca(i) for i in range(12)]))
    return folder


def test_each_file_of_a_folder_gets_its_own_format_vote(tmp_path: Path) -> None:
    folder = _mixed_folder(tmp_path)
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", str(folder), "-o", str(out), "--no-semantic"])
    assert res.exit_code == 0, res.output  # before: the 12 Alpaca records conversion_error
    assert (out / "rejects.jsonl").read_text() == ""
    conv = json.loads((out / "report.json").read_text())["convert"]
    assert conv["formats"] == {"alpaca": 12, "chat": 40, "sharegpt": 30}
    assert conv["format_by_file"] == {
        str(folder / "chat.parquet"): "chat",
        str(folder / "glaive.jsonl.gz"): "sharegpt",
        str(folder / "identity.json"): "alpaca",
    }
    # --from still forces one format on every file.
    res = CliRunner().invoke(
        main, ["convert", str(folder), "-o", str(tmp_path / "c.jsonl"), "--from", "chat"]
    )
    assert res.exit_code == 1 and "42 of 82 records rejected" in res.stderr


def test_prime_votes_per_file_and_words_rejects_with_that_files_vote() -> None:
    a = [Record("a.jsonl", i, _chat(i)) for i in range(1, 4)]
    b = [Record("b.jsonl", i, _alpaca(i)) for i in range(1, 4)]
    b.append(Record("b.jsonl", 4, _chat(4)))  # an odd one out in b
    conv = Converter()
    items = list(conv.prime(a + b))
    assert items == a + b
    # prime decides a file's format when its first item is drawn: convert in stream order
    conv = Converter()
    done = [conv(r) for r in conv.prime(a + b)]
    assert [type(d).__name__ for d in done] == ["Record"] * 6 + ["Dropped"]
    assert "this file is alpaca (by majority of the first 4 records: alpaca 3, chat 1)" in (
        done[-1].detail
    )
    assert conv.source_format == "mixed"
    assert conv.stats()["format_votes"] == {"alpaca": 3, "chat": 4}
    assert conv.stats()["format_by_file"] == {"a.jsonl": "chat", "b.jsonl": "alpaca"}


def _jsonl_folder(root: Path) -> Path:
    folder = root / "shards"
    folder.mkdir()
    (folder / "a.jsonl").write_text("".join(json.dumps(_chat(i)) + "\n" for i in range(12)))
    rows = [json.dumps(_chat(i + 100)) for i in range(10)] + ["{broken"]
    (folder / "b.jsonl").write_text("\n".join(rows) + "\n")
    return folder


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("validate", ["--rejects", "{out}/rej.jsonl"]),
        ("convert", ["-o", "{out}/c.jsonl", "--rejects", "{out}/rej.jsonl"]),
        ("dedup", ["-o", "{out}/d.jsonl", "--rejects", "{out}/rej.jsonl"]),
        ("audit", []),
        ("split", ["-o", "{out}/split"]),
    ],
)
def test_every_command_reads_a_folder_of_jsonl_as_run_does(
    tmp_path: Path, command: str, args: list[str]
) -> None:
    folder = _jsonl_folder(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    args = [a.format(out=out) for a in args]
    res = CliRunner().invoke(main, [command, str(folder), *args])
    assert "is a directory" not in res.output
    if command == "split":  # split refuses a bad line, naming its file and line
        assert res.exit_code == 2
        assert f"{folder / 'b.jsonl'}:11: json_decode" in res.stderr
        return
    assert res.exit_code == 1, res.output  # the broken line, found in its own file
    if command == "audit":
        assert "23 records, 22 conversations" in res.stderr  # 22 read + 1 unreadable
        return
    (reject,) = map(json.loads, (out / "rej.jsonl").read_text().splitlines())
    assert (reject["source"], reject["line"]) == (str(folder / "b.jsonl"), 11)


def test_no_output_inside_an_input_folder(tmp_path: Path) -> None:
    folder = _jsonl_folder(tmp_path)
    for args, said in [
        (["convert", "-o", str(folder / "a.jsonl")], "would overwrite the input"),
        (["convert", "-o", str(folder / "new.jsonl")], "is inside the input folder"),
        (["split", "-o", str(folder)], "would hold or replace the input"),
    ]:
        res = CliRunner().invoke(main, [args[0], str(folder), *args[1:]])
        assert res.exit_code == 2 and said in res.stderr, res.output
    assert sorted(p.name for p in folder.iterdir()) == ["a.jsonl", "b.jsonl"]


def test_dedup_writes_a_folders_rejects_file_by_file(tmp_path: Path) -> None:
    # Sorted by line alone, b.jsonl:1 came before a.jsonl:2; the Ray engine (and run,
    # convert, validate) write input order: file by file, then line.
    src = tmp_path / "in"
    src.mkdir()
    row = json.dumps(_chat(1))
    (src / "a.jsonl").write_text(f"{row}\n{row}\n")
    (src / "b.jsonl").write_text("{bad\n")
    rejects = tmp_path / "rejects.jsonl"
    res = CliRunner().invoke(
        main, ["dedup", str(src), "-o", str(tmp_path / "out.jsonl"), "--rejects", str(rejects)]
    )
    assert res.exit_code == 1, res.output
    got = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(Path(r["source"]).name, r["line"], r["reason"]) for r in got] == [
        ("a.jsonl", 2, "exact_duplicate"),
        ("b.jsonl", 1, "json_decode"),
    ]
