"""The README's guarantees: inputs are never overwritten; one exit-code contract everywhere.

Regression tests for issue 16 #1 (outputs over the input) and #10 (exit codes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from curate.cli import main


def chat(i: int) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"Question {i}: how far is planet {i * 7} from here?"},
            {"role": "assistant", "content": f"Answer {i}: about {i * 13} units, give or take."},
        ]
    }


def write(path: Path, rows: list[dict], extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + extra)
    return path


def invoke(*args: object) -> Result:
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return write(tmp_path / "d" / "data.jsonl", [chat(i) for i in range(12)])


def assert_refused(res: Result, src: Path, before: bytes) -> None:
    assert res.exit_code == 2, res.output
    assert "input" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert src.read_bytes() == before  # the input is untouched


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "{src}", "--no-embeddings", "--html", "{src}"],
        ["audit", "{src}", "--no-embeddings", "--card", "{src}"],
        ["split", "{dir}/train.jsonl", "-o", "{dir}", "--no-semantic"],
        ["run", "{src}", "-o", "{dir}", "--no-semantic", "--overwrite"],
        ["run", "{src}", "-o", "{parent}", "--no-semantic", "--overwrite"],
        ["convert", "{src}", "-o", "{link}"],
        ["dedup", "{src}", "-o", "{dir}/../d/data.jsonl"],
        ["validate", "{src}", "--rejects", "{link}"],
    ],
)
def test_no_command_writes_over_its_input(data: Path, args: list[str]) -> None:
    d = data.parent
    os.link(data, d / "hardlink.jsonl")  # another name for the same file
    (d / "train.jsonl").write_bytes(data.read_bytes())
    names = {"src": data, "dir": d, "parent": d.parent, "link": d / "hardlink.jsonl"}
    argv = [a.format(**names) for a in args]
    src = Path(argv[1])
    before = src.read_bytes()
    assert_refused(invoke(*argv), src, before)
    assert sorted(p.name for p in d.iterdir()) == ["data.jsonl", "hardlink.jsonl", "train.jsonl"]


def test_split_into_its_inputs_folder_is_refused(data: Path) -> None:
    """As curate run: DIR is replaced whole (--overwrite), so it may not hold the input."""
    before = sorted(p.name for p in data.parent.iterdir())
    for extra in ((), ("--overwrite",)):
        res = invoke("split", data, "-o", data.parent, "--no-semantic", *extra)
        assert res.exit_code == 2, res.output
        assert "the output folder would hold or replace the input" in res.stderr
        assert sorted(p.name for p in data.parent.iterdir()) == before


EMPTY = {"empty": "", "blank lines": "\n  \n\r\n", "empty array": "[]\n"}


@pytest.mark.parametrize("content", list(EMPTY.values()), ids=list(EMPTY))
def test_every_command_exits_1_on_an_input_without_records(tmp_path: Path, content: str) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_text(content)
    for argv in (
        ["validate", src],
        ["convert", src, "-o", tmp_path / "c.jsonl"],
        ["dedup", src, "-o", tmp_path / "d.jsonl"],
        ["audit", src, "--no-embeddings"],
        ["split", src, "-o", tmp_path / "s", "--no-semantic"],
        ["run", src, "-o", tmp_path / "r", "--no-semantic", "--overwrite"],
    ):
        res = invoke(*argv)
        assert res.exit_code == 1, (argv[0], res.output)
        assert "no records" in res.stderr, (argv[0], res.stderr)


def test_rejects_exit_1_and_allow_rejects_exits_0(tmp_path: Path) -> None:
    rows = [chat(i) for i in range(12)]
    src = write(tmp_path / "in.jsonl", [*rows, rows[0]], "{broken\n")  # a duplicate, a bad line
    clean = write(tmp_path / "clean.jsonl", rows)
    for argv in (
        ["validate", "{src}"],
        ["convert", "{src}", "-o", "{out}/c.jsonl"],
        ["dedup", "{src}", "-o", "{out}/d.jsonl"],
        ["audit", "{src}", "--no-embeddings"],
        ["run", "{src}", "-o", "{out}/r", "--no-semantic", "--overwrite"],
    ):

        def go(path: Path, *extra: str, argv: list[str] = argv) -> Result:
            return invoke(*[a.format(src=path, out=tmp_path) for a in argv], *extra)

        res = go(src)
        assert res.exit_code == 1, (argv[0], res.output)
        assert f"{argv[0]}: exit 1:" in res.stderr and "rejected" in res.stderr
        assert go(src, "--allow-rejects").exit_code == 0, argv[0]
        assert go(clean).exit_code == 0, (argv[0], go(clean).output)
