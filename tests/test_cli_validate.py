"""`curate validate` through the CLI: the --json contract, exit codes, stdin, rejects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "sample.jsonl"
GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def run(*args: str, input: str | bytes | None = None):
    return CliRunner().invoke(main, ["validate", *args], input=input)


def test_json_contract_on_the_sample_set() -> None:
    res = run(str(SAMPLE), "--json")
    assert res.exit_code == 1
    report = json.loads(res.stdout)  # stdout is exactly one JSON object
    assert set(report) == {"path", "format", "records", "valid", "invalid", "warnings", "stats"}
    assert report["path"] == str(SAMPLE) and report["format"] == "chat"
    assert isinstance(report["records"], int) and isinstance(report["valid"], int)
    assert report["records"] == report["valid"] + len(report["invalid"])
    for inv in report["invalid"]:
        assert isinstance(inv["line"], int)
        for err in inv["errors"]:
            assert set(err) == {"code", "path", "message"}
            assert err["path"] == "" or err["path"].startswith("/")
    for w in report["warnings"]:
        assert {"line", "code", "message"} <= set(w)
    tokens = report["stats"]["tokens"]
    assert tokens["method"] == "estimate" and tokens["min"] <= tokens["median"] <= tokens["p95"]
    assert "findings" in res.stderr and "unknown_role" in res.stderr  # the human table
    assert "ESTIMATE" in res.stderr


def test_exit_0_on_a_clean_file_and_summary_only_on_stderr(tmp_path: Path) -> None:
    src = tmp_path / "ok.jsonl"
    src.write_text(json.dumps(GOOD) + "\n")
    res = run(str(src))
    assert res.exit_code == 0 and res.stdout == ""
    assert "valid" in res.stderr


def test_exit_2_on_missing_file_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    res = run(str(tmp_path / "missing.jsonl"))
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'missing.jsonl'}: no such file or directory"
    ]
    assert res.stdout == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--schema", "/nonexistent/schema.json"], "cannot read schema"),
        (["--from", "csv"], "Invalid value for '--from'"),
        (["--max-tokens", "0"], "Invalid value for '--max-tokens'"),
        (["--tokenizer", "/nonexistent/tok"], "cannot load a tokenizer"),
    ],
)
def test_exit_2_on_bad_options(args, needle) -> None:
    res = run(str(SAMPLE), *args)
    assert res.exit_code == 2 and needle in res.stderr
    assert "Traceback" not in res.output


def test_stdin(tmp_path: Path) -> None:
    data = json.dumps(GOOD) + "\n\n" + '{"messages": [{"role": "user", "content": "x"}]}\n'
    res = run("-", "--json", input=data)
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert report["path"] == "-" and report["records"] == 2 and report["valid"] == 1
    assert report["invalid"] == [
        {
            "line": 3,
            "source": "-",
            "errors": [
                {"code": "no_assistant", "path": "/messages", "message": "no assistant message"}
            ],
        }
    ]
    assert report["stats"]["blank_line_numbers"] == [2]


def test_rejects_file_has_line_and_reasons(tmp_path: Path) -> None:
    rej = tmp_path / "rej.jsonl"
    res = run(str(SAMPLE), "--rejects", str(rej))
    assert res.exit_code == 1
    rows = [json.loads(x) for x in rej.read_text().splitlines()]
    assert len(rows) == 4
    assert {r["reason"] for r in rows} == {
        "json_decode",
        "no_assistant",
        "empty_content",
        "unknown_role",
    }
    assert all(isinstance(r["line"], int) and r["errors"] for r in rows)
    assert f"written to {rej}" in res.stderr


def test_sharegpt_input_is_converted_then_validated_and_says_so(tmp_path: Path) -> None:
    src = tmp_path / "sg.json"
    src.write_text(
        json.dumps(
            [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}]
        )
    )
    res = run(str(src), "--json")
    assert res.exit_code == 0
    report = json.loads(res.stdout)
    assert report["format"] == "sharegpt" and report["stats"]["converted_from"] == "sharegpt"
    assert "converted to chat before validating" in res.stderr


def test_max_tokens_and_exact_tokenizer(tmp_path: Path, tiny_model_dir) -> None:
    res = run(str(SAMPLE), "--json", "--max-tokens", "100")
    report = json.loads(res.stdout)
    over = report["stats"]["tokens"]["over_max_tokens"]
    assert over > 0 and report["stats"]["warnings_by_code"] == {"over_max_tokens": over}
    assert res.exit_code == 1  # warnings do not change the exit code; the 4 invalid lines do
    res = run(str(SAMPLE), "--json", "--tokenizer", str(tiny_model_dir))
    tokens = json.loads(res.stdout)["stats"]["tokens"]
    assert tokens["exact"] is True and tokens["method"].startswith("tokenizer:")
    assert "tokens (exact)" in res.stderr


def test_user_schema_via_cli(tmp_path: Path) -> None:
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "required": ["category"]}))
    src = tmp_path / "d.jsonl"
    src.write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "category": "x"}) + "\n")
    res = run(str(src), "--schema", str(schema), "--json")
    assert res.exit_code == 1
    inv = json.loads(res.stdout)["invalid"]
    assert [(i["line"], i["errors"][0]["code"]) for i in inv] == [(1, "schema_violation")]


@pytest.mark.parametrize("command", ["validate", "convert"])
def test_help_has_an_example(command: str) -> None:
    res = CliRunner().invoke(main, [command, "--help"])
    assert res.exit_code == 0 and "Example:" in res.stdout


def test_gzip_and_parquet_inputs(tmp_path: Path) -> None:
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    gz = tmp_path / "d.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(json.dumps(GOOD) + "\n" + json.dumps({"messages": []}) + "\n")
    pq.write_table(pa.Table.from_pylist([GOOD, GOOD]), tmp_path / "d.parquet")
    res = run(str(gz), "--json")
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert report["stats"]["container"] == "jsonl" and report["invalid"][0]["line"] == 2
    res = run(str(tmp_path / "d.parquet"), "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["stats"]["container"] == "parquet"


def test_outputs_never_overwrite_the_input_or_each_other(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    before = src.read_bytes()
    runner = CliRunner()
    for args in (
        ["validate", str(src), "--rejects", str(src)],
        ["convert", str(src), "-o", str(tmp_path / "o.jsonl"), "--rejects", str(src)],
        [
            "dedup",
            str(src),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--rejects",
            str(tmp_path / "o.jsonl"),
        ],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, args
        assert "would overwrite" in result.stderr and "Traceback" not in result.stderr
    assert src.read_bytes() == before


def test_unwritable_output_is_a_one_line_error(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(main, ["convert", str(src), "-o", str(blocker / "out.jsonl")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {blocker / 'out.jsonl'}: cannot write:")


@pytest.mark.parametrize("content", ["", "\n  \n", "[]"])
def test_an_input_without_records_is_a_finding(tmp_path: Path, content: str) -> None:
    src = tmp_path / "empty.json"
    src.write_text(content)
    result = CliRunner().invoke(main, ["validate", str(src), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["records"] == 0
    assert [w["code"] for w in report["warnings"]] == ["no_records"]
