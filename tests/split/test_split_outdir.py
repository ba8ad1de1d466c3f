"""``curate split -o DIR`` treats DIR as ``curate run`` does: a non-empty DIR is refused
unless --overwrite, which leaves only this split's files (no earlier val.jsonl); a DIR that
holds the input is refused (qa10 #4: a second split into DIR kept the first one's val.jsonl,
and ``curate split DIR/x.jsonl -o DIR`` wrote beside its input)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from curate.cli import main


def _rows(tag: str, n: int) -> str:
    return "".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"{tag} question number {i} about rivers {i * 7}"},
                    {"role": "assistant", "content": f"{tag} answer {i}: " + "word " * (i % 5)},
                ]
            }
        )
        + "\n"
        for i in range(n)
    )


def _split(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["split", *args, "--no-semantic"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "in").mkdir()
    a, b = tmp_path / "in" / "glaive.jsonl", tmp_path / "in" / "fastchat.jsonl"
    a.write_text(_rows("glaive", 60))
    b.write_text(_rows("fastchat", 40))
    return a, b


def test_second_split_into_a_full_folder_is_refused(tmp_path: Path) -> None:
    a, b = _inputs(tmp_path)
    out = tmp_path / "splits"
    assert _split(str(a), "-o", str(out), "--val-size", "0.1")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "val.jsonl" in before
    code, err = _split(str(b), "-o", str(out))
    assert code == 2
    assert err == f"Error: {out}: exists and is not empty; pass --overwrite to replace it\n"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_overwrite_leaves_only_this_splits_files(tmp_path: Path) -> None:
    a, b = _inputs(tmp_path)
    out = tmp_path / "splits"
    assert _split(str(a), "-o", str(out), "--val-size", "0.1")[0] == 0
    code, err = _split(str(b), "-o", str(out), "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "split_report.json",
        "test.jsonl",
        "train.jsonl",
    ]
    text = (out / "train.jsonl").read_text() + (out / "test.jsonl").read_text()
    assert "glaive" not in text and text.count("\n") == 40
    # Nothing left beside DIR either (the build folder was swapped in and removed).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "splits"]


def test_folder_holding_the_input_is_refused(tmp_path: Path) -> None:
    a, _ = _inputs(tmp_path)
    listing = sorted(p.name for p in a.parent.iterdir())
    for extra in ([], ["--overwrite"]):
        code, err = _split(str(a), "-o", str(a.parent), *extra)
        assert code == 2
        assert err == (
            f"Error: {a.parent}: the output folder would hold or replace the input {a}; "
            "choose another folder\n"
        )
        assert sorted(p.name for p in a.parent.iterdir()) == listing


def test_failed_split_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    a, _ = _inputs(tmp_path)
    out = tmp_path / "splits"
    assert _split(str(a), "-o", str(out), "--val-size", "0.1")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_rows("bad", 3) + "{not json\n")
    code, err = _split(str(bad), "-o", str(out), "--overwrite")
    assert code == 2 and "bad.jsonl" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
