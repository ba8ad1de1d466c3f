"""`curate audit` through Click: exit codes, the JSON contract, files written, messages."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from curate.audit import FINDING_CODES
from curate.cli import main
from tests.audit.audit_data import chat, clean_rows, write_jsonl


def invoke(*args: str):  # noqa: ANN201 - click's Result
    return CliRunner().invoke(main, ["audit", *args])


def test_json_contract(identity_like_path: Path) -> None:
    result = invoke(str(identity_like_path), "--json", "--no-embeddings")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["tool"] == "curate audit" and report["seed"] == 0
    for key in ("summary", "metrics", "shape", "languages", "diversity", "findings", "gates"):
        assert key in report
    assert set(report["summary"]["flagged"]) == set(FINDING_CODES)
    assert report["findings"], "identity-like data has findings"
    for f in report["findings"]:
        assert f["code"] in FINDING_CODES
        assert f["lines"] and all(isinstance(x, int) and 1 <= x <= 9 for x in f["lines"])
        assert f["count"] == len(f["lines"]) and f["severity"] in ("error", "warning")
        assert isinstance(f["example"], str) and f["example"]
    codes = {f["code"] for f in report["findings"]}
    assert codes == {"conflicting_answers", "template_placeholder"}
    # Human summary on stderr, never mixed into the JSON.
    assert "conflicting_answers" in result.stderr and "warning: only 9" in result.stderr


def test_no_json_means_nothing_on_stdout(clean_path: Path) -> None:
    result = invoke(str(clean_path), "--no-embeddings")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "40 records" in result.stderr


def test_fail_on_breaks_with_exit_1(identity_like_path: Path) -> None:
    result = invoke(
        str(identity_like_path), "--no-embeddings", "--fail-on", "conflicting_answers>0"
    )
    assert result.exit_code == 1
    assert "gate failed: conflicting_answers>0: conflicting_answers is 4" in result.stderr


def test_fail_on_passes_with_exit_0(clean_path: Path) -> None:
    result = invoke(
        str(clean_path),
        "--no-embeddings",
        "--json",
        "--fail-on",
        "conflicting_answers>0",
        "--fail-on",
        "near_duplicate_share>0.05,min_records=10",
    )
    assert result.exit_code == 0, result.stderr
    gates = json.loads(result.stdout)["gates"]
    assert gates == {
        "rules": ["conflicting_answers>0", "near_duplicate_share>0.05", "min_records=10"],
        "failures": [],
        "passed": True,
    }


def test_min_records_gate_and_small_set_warning(clean_path: Path) -> None:
    result = invoke(str(clean_path), "--no-embeddings", "--fail-on", "min_records=100")
    assert result.exit_code == 1
    assert "fewer than 100" in result.stderr
    assert "gate failed: min_records=100: records is 40" in result.stderr


def test_bad_rule_exits_2_with_one_line(clean_path: Path) -> None:
    result = invoke(str(clean_path), "--no-embeddings", "--fail-on", "conflicts>0")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --fail-on 'conflicts>0': unknown metric 'conflicts'")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_input_exits_2(tmp_path: Path) -> None:
    result = invoke(str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "nope.jsonl: no such file or directory" in result.stderr


def test_bad_tokenizer_exits_2(clean_path: Path, tmp_path: Path) -> None:
    result = invoke(str(clean_path), "--no-embeddings", "--tokenizer", str(tmp_path / "none"))
    assert result.exit_code == 2
    assert "--tokenizer" in result.stderr and "no such file" in result.stderr
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    result = invoke(str(clean_path), "--no-embeddings", "--tokenizer", str(empty))
    assert result.exit_code == 2
    assert "cannot load a tokenizer" in result.stderr and "Traceback" not in result.stderr


def test_label_that_matches_nothing_warns(clean_path: Path) -> None:
    result = invoke(str(clean_path), "--no-embeddings", "--label", "meta.nothing")
    assert result.exit_code == 0
    assert "warning: no record has a value at --label meta.nothing" in result.stderr


def test_finding_code_gate_on_any_code(tmp_path: Path) -> None:
    rows = clean_rows(5) + [chat("Say hi", "I'm sorry, but I can't help with that.")]
    path = write_jsonl(tmp_path / "r.jsonl", rows)
    assert invoke(str(path), "--no-embeddings", "--fail-on", "refusal>0").exit_code == 1
    assert invoke(str(path), "--no-embeddings", "--fail-on", "refusal>1").exit_code == 0
    assert invoke(str(path), "--no-embeddings", "--fail-on", "max_refusal_share=0.5").exit_code == 0


def test_card_and_label(clean_path: Path, tmp_path: Path) -> None:
    card = tmp_path / "card" / "README.md"
    result = invoke(
        str(clean_path),
        "--no-embeddings",
        "--label",
        "meta.category",
        "--card",
        str(card),
        "--card-license",
        "mit",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    meta = yaml.safe_load(card.read_text(encoding="utf-8").split("---\n")[1])
    assert meta["license"] == "mit" and meta["language"] == ["en"]
    labels = json.loads(result.stdout)["diversity"]["labels"]
    assert labels["field"] == "meta.category" and labels["labels"] == 16


def test_any_seed_works_and_is_reported(clean_path: Path) -> None:
    result = invoke(str(clean_path), "--no-embeddings", "--json", "--seed", "7")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["seed"] == 7 and report["config"]["seed"] == 7


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["audit", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout and "--fail-on" in result.stdout
