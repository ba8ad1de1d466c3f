"""CLI tests for `curate dedup`: outputs, rejects, clusters, JSON counts, leakage, errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from curate.cli import main
from tests.dedup.dedup_data import chat, long_text, write_jsonl


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _run(*args: str):  # noqa: ANN202 - click Result
    return CliRunner().invoke(main, ["dedup", *args])


def test_cli_exact_near_outputs_add_up(tmp_path: Path, dup_rows: list[dict]) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", dup_rows)
    with src.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")  # an unreadable line still ends up somewhere
    out, rej, cl = tmp_path / "out.jsonl", tmp_path / "rej.jsonl", tmp_path / "cl.jsonl"
    result = _run(str(src), "-o", str(out), "--rejects", str(rej), "--clusters", str(cl), "--json")
    assert result.exit_code == 1, result.stderr  # records were removed: exit 1 (issue 16 #10)
    assert "dedup: exit 1: 3 of 9 records rejected" in result.stderr
    allowed = _run(str(src), "-o", str(out), "--rejects", str(rej), "--allow-rejects")
    assert allowed.exit_code == 0, allowed.stderr
    report = json.loads(result.stdout)
    assert report["removed"] == {"exact": 1, "near": 1, "leaked": 0}
    assert report["clusters"] == {"exact": 1, "near": 1}
    assert report["reasons"] == {"json_decode": 1, "exact_duplicate": 1, "near_duplicate": 1}
    kept, rejects = _lines(out), _lines(rej)
    assert len(kept) + len(rejects) == 9
    assert [r["line"] for r in rejects] == [2, 3, 9]
    by_line = {r["line"]: r for r in rejects}
    assert by_line[2]["reason"] == "exact_duplicate"
    assert by_line[3]["reason"] == "near_duplicate"
    assert by_line[3]["duplicate_of"] == f"{src}:1"
    assert 0.75 <= by_line[3]["similarity"] < 1
    assert by_line[3]["record"] == dup_rows[2]
    clusters = _lines(cl)
    assert [(c["method"], c["size"], c["kept"]) for c in clusters] == [
        ("exact", 2, f"{src}:1"),
        ("near", 2, f"{src}:1"),
    ]
    assert "curate dedup: 8 records -> 6 kept" in result.stderr


def test_cli_is_deterministic(tmp_path: Path, dup_rows: list[dict]) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", dup_rows * 2)
    outs = []
    for k in range(2):
        out, rej = tmp_path / f"o{k}.jsonl", tmp_path / f"r{k}.jsonl"
        assert (
            _run(str(src), "-o", str(out), "--rejects", str(rej), "--keep", "longest").exit_code
            == 1
        )
        outs.append((out.read_bytes(), rej.read_bytes()))
    assert outs[0] == outs[1]


def test_cli_key_prompt(tmp_path: Path) -> None:
    rows = [chat("Same question?", long_text(1)), chat("same question", long_text(2))]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    assert _run(str(src), "-o", str(out), "--key", "response").exit_code == 0  # none removed
    assert len(_lines(out)) == 2
    assert _run(str(src), "-o", str(out), "--key", "prompt").exit_code == 1  # one removed
    assert len(_lines(out)) == 1


def test_cli_against_drop_and_flag(tmp_path: Path, dup_rows: list[dict]) -> None:
    src = write_jsonl(tmp_path / "train.jsonl", dup_rows)
    test = write_jsonl(tmp_path / "test.jsonl", [dup_rows[4]])
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    result = _run(
        str(src), "-o", str(out), "--against", str(test), "--rejects", str(rej), "--json",
        "--allow-rejects",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["removed"]["leaked"] == 1
    assert report["leaks"] == [
        {
            "line": 5,
            "id": "q3",
            "duplicate_of": "q3",
            "against": str(test),
            "method": "exact",
            "similarity": 1.0,
        }
    ]
    leaked = [r for r in _lines(rej) if r["reason"] == "leaked"]
    assert [(r["line"], r["against"]) for r in leaked] == [(5, str(test))]
    flagged = _run(str(src), "-o", str(out), "--against", str(test), "--leak-action", "flag")
    assert flagged.exit_code == 1
    assert "1 records duplicate one of the 1 records of" in flagged.stderr
    assert any(r.get("id") == "q3" for r in _lines(out))


def test_cli_explain_prints_histogram(tmp_path: Path, dup_rows: list[dict]) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", dup_rows)
    result = _run(str(src), "--explain", "--method", "near")
    assert result.exit_code == 0, result.stderr
    assert "near: threshold 0.75" in result.stderr
    assert "pairs just above the threshold:" in result.stderr
    assert "---------- threshold 0.75 ----------" in result.stderr


def test_cli_errors(tmp_path: Path, dup_rows: list[dict]) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", dup_rows)
    missing_o = _run(str(src))
    assert missing_o.exit_code == 2
    assert "missing -o/--output" in missing_o.stderr
    bad_method = _run(str(src), "-o", str(tmp_path / "o.jsonl"), "--method", "exact,fuzzy")
    assert bad_method.exit_code == 2
    assert "fuzzy: choose from exact, near, semantic" in bad_method.stderr
    no_file = _run(str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl"))
    assert no_file.exit_code == 2
    assert "nope.jsonl: no such file or directory" in no_file.stderr
    clobber = _run(str(src), "-o", str(src))
    assert clobber.exit_code == 2
    assert "would overwrite the input" in clobber.stderr
    assert "Traceback" not in clobber.stderr


def test_cli_help_has_example() -> None:
    result = CliRunner().invoke(main, ["dedup", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout


def test_cli_bad_thread_counts_are_one_line_errors(tmp_path: Path, dup_rows: list[dict]) -> None:
    """A bad ``CURATE_THREADS`` / ``CURATE_SCAN_THREADS`` stops the command before any work,
    naming the variable and its value (it used to fall back to the default silently)."""
    src = write_jsonl(tmp_path / "in.jsonl", dup_rows)
    for name in ("CURATE_THREADS", "CURATE_SCAN_THREADS"):
        for bad in ("abc", "0", "-1", ""):
            for args in (
                ["dedup", str(src), "-o", str(tmp_path / "o.jsonl"), "--method", "semantic"],
                ["run", str(src), "-o", str(tmp_path / "run")],
            ):
                result = CliRunner().invoke(main, args, env={name: bad})
                assert result.exit_code == 2, (name, bad, args[0], result.output)
                assert result.stderr == (
                    f"Error: {name}={bad!r}: expected a whole number of threads, at least 1\n"
                )
                assert not (tmp_path / "run").exists()
    # Semantic dedup off: the variables are not read.
    off = _run(str(src), "-o", str(tmp_path / "o.jsonl"), "--method", "exact")
    assert (
        CliRunner()
        .invoke(
            main,
            ["dedup", str(src), "-o", str(tmp_path / "o.jsonl"), "--method", "exact"],
            env={"CURATE_THREADS": "abc"},
        )
        .exit_code
        == off.exit_code
        == 1
    )
