"""The whole flow with both sides and the judge served over HTTP on loopback (CLI + library)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.errors import InputError
from curate.evaluate import EvalConfig, JudgeSpec, SideSpec, export_sheet, import_ratings, run_eval
from curate.evaluate.pairs import Generation
from tests.evaluate.eval_helpers import (
    biased_judge,
    chat_record,
    fair_judge,
    model_answer,
    write_records,
)


def serve(server, judge=fair_judge):
    server.responder = lambda body: judge(body) if body["model"] == "judge" else model_answer(body)


def endpoint_args(server, data, out) -> list[str]:
    return ["eval", str(data), "-o", str(out), "--base-url", server.url, "--base-model-name",
            "weak", "--tuned-url", server.url, "--tuned-model-name", "good", "--judge-url",
            server.url, "--judge-model", "judge", "--retry-backoff", "0.001", "--label", "category",
            "--base-system-prompt", "Answer briefly."]  # fmt: skip


def test_cli_endpoint_mode_with_judge_retries_and_require_win(chat_server, eval_split, tmp_path):
    serve(chat_server)
    chat_server.fail_with = [429, 500]
    out = tmp_path / "out"
    result = CliRunner(env={"OPENAI_API_KEY": "sk-loopback"}).invoke(
        main, [*endpoint_args(chat_server, eval_split, out), "--require-win", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == json.loads((out / "eval.json").read_text())
    # 10 consistent judge wins: p = 2 / 2^10.
    assert "verdict: fine-tune better on 10/10, p=0.00195 (judge; 0 ties)" in result.stderr
    assert report["decided_by"] == "judge" and report["win"] is True
    judge = report["comparisons"]["judge"]
    assert (judge["wins"], judge["ties"], judge["losses"], judge["unrated"]) == (10, 0, 0, 0)
    assert report["metrics"]["metrics"]["exact_match"] == {"base": 0.0, "tuned": 1.0, "delta": 1.0}
    assert report["examples"][0]["judge"]["reason_base_first"] == "B matches the reference"
    bodies = [r["body"] for r in chat_server.requests]
    base_bodies = [b for b in bodies if b["model"] == "weak"]
    assert base_bodies[0]["messages"][0] == {"role": "system", "content": "Answer briefly."}
    assert base_bodies[0]["max_tokens"] == 256 and base_bodies[0]["temperature"] == 0.0
    tuned_bodies = [b for b in bodies if b["model"] == "good"]
    assert tuned_bodies[0]["messages"][0]["role"] == "user"  # the fine-tune gets no extra prompt
    assert {r["auth"] for r in chat_server.requests} == {"Bearer sk-loopback"}
    assert len([b for b in bodies if b["model"] == "judge"]) == 20  # both orders, 10 pairs
    # The 429 and the 500 met the first base request: retried, not fatal.
    assert report["generation"]["base_endpoint"] == {"requests": 12, "retries": 2}
    assert report["generation"]["tuned_endpoint"] == {"requests": 10, "retries": 0}
    # A rerun asks nobody: generations and judgements are reused (their keys still match).
    n_requests = len(chat_server.requests)
    again = CliRunner().invoke(main, [*endpoint_args(chat_server, eval_split, out), "--json"])
    assert again.exit_code == 0, again.stderr
    assert len(chat_server.requests) == n_requests
    rerun = json.loads(again.stdout)
    assert rerun["judge"]["reused"] == 10 and rerun["comparisons"] == report["comparisons"]


def test_cli_position_biased_judge_fails_require_win(chat_server, eval_split, tmp_path):
    serve(chat_server, judge=biased_judge)
    result = CliRunner().invoke(
        main, [*endpoint_args(chat_server, eval_split, tmp_path), "--require-win"]
    )
    assert result.exit_code == 1, result.stderr
    assert "verdict: no difference: 0/0 each way, p=1 (judge; 10 ties)" in result.stderr
    assert "--require-win not met" in result.stderr


def test_unparsable_judge_is_counted_and_excluded(chat_server, eval_split, tmp_path):
    chat_server.responder = lambda body: "hmm" if body["model"] == "judge" else model_answer(body)
    cfg = EvalConfig(str(eval_split), str(tmp_path), SideSpec("weak", url=chat_server.url),
                     SideSpec("good", url=chat_server.url),
                     judge=JudgeSpec(chat_server.url, "judge"), max_examples=3)  # fmt: skip
    result = run_eval(cfg)
    judge = result.report["comparisons"]["judge"]
    assert (judge["rated"], judge["unrated"]) == (0, 3)
    assert result.report["judge"]["malformed_answers"] == 12  # 3 pairs x 2 orders x 2 tries
    assert "judge: 3 comparisons unparsable (excluded)" in result.notes
    assert result.report["examples"][0]["judge"]["outcome"] == "unparsable"


def test_endpoint_failure_is_a_one_line_error(chat_server, eval_split, tmp_path):
    serve(chat_server)
    chat_server.fail_with = [503] * 10
    result = CliRunner().invoke(
        main, [*endpoint_args(chat_server, eval_split, tmp_path), "--retries", "1"]
    )
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: http://127.0.0.1:")
    assert last.endswith('failed after 2 attempts: HTTP 503: {"error": {"message": "status 503"}}')
    assert "Traceback" not in result.stderr


# -- human rating ---------------------------------------------------------------------------


def _gens(n: int) -> list[Generation]:
    return [Generation(f"g{i}", "t.jsonl", i + 1, None, [{"role": "user", "content": f"q{i}"}],
                       f"ref{i}", f"base{i}", f"tuned{i}", "k", "k") for i in range(n)]  # fmt: skip


def fill(sheet: Path, key: Path, wants: list[str], dest: Path) -> Path:
    """Fill the sheet as a rater who prefers ``wants[i]`` ('tuned', 'base', 'tie', '') per row."""
    sides = {r["row"]: r for r in json.loads(key.read_text())["rows"]}
    with sheet.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row, want in zip(rows, wants, strict=True):
        n = int(row["row"])
        row["preference"] = want if want in ("tie", "") else ("A" if sides[n]["A"] == want else "B")
    with dest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return dest


def test_human_sheet_is_blind_seeded_and_imports(tmp_path):
    paths = export_sheet(_gens(20), tmp_path, seed=3)
    key = json.loads(Path(paths["key"]).read_text())
    assert {r["A"] for r in key["rows"]} == {"base", "tuned"}  # shuffled per row
    again = export_sheet(_gens(20), tmp_path / "again", seed=3)
    assert Path(again["csv"]).read_bytes() == Path(paths["csv"]).read_bytes()
    sheet = Path(paths["csv"]).read_text()
    assert "tuned" not in sheet.split("\n")[0] and "base0" in sheet  # no side names in columns
    html = Path(paths["html"]).read_text()
    assert "Download ratings.csv" in html and "base0" in html
    wants = ["tuned"] * 14 + ["base"] * 2 + ["tie"] * 2 + [""] * 2
    filled = fill(Path(paths["csv"]), Path(paths["key"]), wants, tmp_path / "filled.csv")
    result = import_ratings(filled, paths["key"])
    t = result.tally
    assert (t.wins, t.losses, t.ties, t.unrated) == (14, 2, 2, 2)
    assert t.p_value == pytest.approx(0.0041809082, rel=1e-6)  # 2 * (1+16+120) / 2^16
    assert result.rows[0]["outcome"] == wants[0]


def test_human_import_reports_bad_cells_with_line(tmp_path):
    paths = export_sheet(_gens(3), tmp_path)
    ratings = tmp_path / "ratings.csv"  # the HTML page's download: row, preference, notes
    ratings.write_text("row,preference,notes\n1,A,\n2,maybe,\n")
    with pytest.raises(InputError, match=r"ratings.csv:3: preference must be A, B, tie or empty"):
        import_ratings(ratings, paths["key"])
    ratings.write_text("row,preference\n1,A\n1,B\n")
    with pytest.raises(InputError, match=r"ratings.csv:3: row 1 is rated twice"):
        import_ratings(ratings, paths["key"])
    ratings.write_text("row,preference\n9,A\n")
    with pytest.raises(InputError, match="row 9 is not in the key"):
        import_ratings(ratings, paths["key"])
    ratings.write_text("row,preference\n1,tie\n")
    assert import_ratings(ratings, paths["key"]).tally.unrated == 2  # rows 2, 3 missing


def test_cli_human_sheet_round_trip(chat_server, eval_split, tmp_path):
    serve(chat_server)
    base_args = ["eval", str(eval_split), "-o", str(tmp_path), "--base-url", chat_server.url,
                 "--base-model-name", "weak", "--tuned-url", chat_server.url,
                 "--tuned-model-name", "good"]  # fmt: skip
    result = CliRunner().invoke(main, [*base_args, "--human-sheet"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "human_sheet.html").exists()
    filled = fill(tmp_path / "human_sheet.csv", tmp_path / "human_key.json",
                  ["tuned"] * 7 + ["base", "tie", ""], tmp_path / "filled.csv")  # fmt: skip
    n_requests = len(chat_server.requests)
    result = CliRunner().invoke(main, [*base_args, "--human-ratings", str(filled)])
    assert result.exit_code == 0, result.stderr
    assert len(chat_server.requests) == n_requests  # generations reused, nothing re-asked
    assert "verdict: fine-tune better on 7/8, p=0.0703 (human; 1 ties; 1 unrated)" in result.stderr
    assert "fewer than 50" in result.stderr
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["decided_by"] == "human"
    assert report["human"]["wins"] == 7 and report["human"]["enough"] is False


def test_cli_format_checks_and_system_prompt_file(chat_server, eval_split, tmp_path):
    serve(chat_server)
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object", "required": ["name"]}')
    prompt = tmp_path / "system.txt"
    prompt.write_text("You answer in one word.\n")
    args = ["eval", str(eval_split), "-o", str(tmp_path / "out"), "--base-url", chat_server.url,
            "--base-model-name", "weak", "--tuned-url", chat_server.url, "--tuned-model-name",
            "good", "--response-schema", str(schema), "--response-regex", r"[A-Z]\w*",
            "--base-system-prompt-file", str(prompt), "--label", "category"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "out" / "eval.json").read_text())
    m = report["metrics"]["metrics"]
    # The fine-tune's ten answers: 5, 8, 7 and two objects parse as JSON; one object has
    # "name"; five are one capitalised word (Bonjour, Gracias, Ja, Paris, Blue).
    assert m["json_valid"] == {"base": 0.0, "tuned": 0.5, "delta": 0.5}
    assert m["schema_valid"]["tuned"] == pytest.approx(0.1)
    assert m["regex_match"]["tuned"] == pytest.approx(0.5)
    assert report["metrics"]["by_label"]["json"]["metrics"]["json_valid"]["tuned"] == 1.0
    weak = next(r["body"] for r in chat_server.requests if r["body"]["model"] == "weak")
    assert weak["messages"][0] == {"role": "system", "content": "You answer in one word."}
    both = CliRunner().invoke(main, [*args, "--base-system-prompt", "x"])
    assert both.exit_code == 2
    assert "either --base-system-prompt or --base-system-prompt-file" in both.stderr


def test_cli_human_ratings_on_regenerated_responses_are_flagged(chat_server, eval_split, tmp_path):
    serve(chat_server)
    args = ["eval", str(eval_split), "-o", str(tmp_path), "--base-url", chat_server.url,
            "--base-model-name", "weak", "--tuned-url", chat_server.url]  # fmt: skip
    result = CliRunner().invoke(main, [*args, "--tuned-model-name", "good", "--human-sheet"])
    assert result.exit_code == 0, result.stderr
    filled = fill(tmp_path / "human_sheet.csv", tmp_path / "human_key.json",
                  ["tuned"] * 9 + [""], tmp_path / "filled.csv")  # fmt: skip
    # The fine-tune is swapped for another model: the ratings no longer describe its answers.
    result = CliRunner().invoke(
        main, [*args, "--tuned-model-name", "other", "--human-ratings", str(filled)]
    )
    assert result.exit_code == 0, result.stderr
    assert "note: human: 9 ratings were given to responses that have since been regenerated" in (
        result.stderr
    )


def test_cli_regression_flagged_exits_1(chat_server, eval_split, tmp_path):
    serve(chat_server)
    general = tmp_path / "general.jsonl"
    rows = [chat_record(i, f"Unknown question {i}?", "I am not sure.", "general") for i in range(3)]
    write_records(general, rows)
    args = ["eval", str(eval_split), "-o", str(tmp_path / "out"), "--base-url", chat_server.url,
            "--base-model-name", "weak", "--tuned-url", chat_server.url, "--tuned-model-name",
            "good", "--regression", str(general), "--regression-threshold", "0.1",
            "--expect-json"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr  # flagged, but not a gate without the flag
    assert "regression: exact_match fell 1.000 -> 0.000 (drop 1.000 > 0.1)" in result.stderr
    result = CliRunner().invoke(main, [*args, "--fail-on-regression"])
    assert result.exit_code == 1
    report = json.loads((tmp_path / "out" / "eval.json").read_text())
    reg = report["regression"]
    assert reg["regressed"] is True and reg["data"]["evaluated"] == 3
    assert {f["metric"] for f in reg["flagged"]} == {"exact_match", "normalized_match",
                                                     "token_f1", "rouge_l"}  # fmt: skip
    # The task's format checks stay out of the general set.
    assert "json_valid" in report["metrics"]["metrics"] and "json_valid" not in reg["metrics"]
    assert (tmp_path / "out" / "regression_generations.jsonl").exists()


def test_regression_findings_threshold():
    from curate.evaluate import regression_findings

    found = regression_findings({"token_f1": 0.8, "length_ratio": 1.0},
                                {"token_f1": 0.74, "length_ratio": 3.0}, 0.05)  # fmt: skip
    assert [f["metric"] for f in found["flagged"]] == ["token_f1"]  # length never regresses
    assert regression_findings({"token_f1": 0.8}, {"token_f1": 0.76}, 0.05)["regressed"] is False


def test_two_fresh_runs_write_identical_files(chat_server, eval_split, tmp_path):
    serve(chat_server)
    for name in ("a", "b"):
        url = chat_server.url
        cfg = EvalConfig(str(eval_split), str(tmp_path / name), SideSpec("weak", url=url),
                         SideSpec("good", url=url), judge=JudgeSpec(url, "judge"),
                         human_sheet=True, label_field="category")  # fmt: skip
        run_eval(cfg)
    a, b = tmp_path / "a", tmp_path / "b"
    for f in ("generations.jsonl", "judgements.jsonl", "human_sheet.csv", "human_key.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    ja, jb = (json.loads((d / "eval.json").read_text()) for d in (a, b))
    for report in (ja, jb):  # the only differences: where the outputs went
        report["settings"].pop("out_dir")
        report["human_sheet"] = None
    assert ja == jb


def test_cli_label_field_no_record_has_is_said(chat_server, eval_split, tmp_path):
    serve(chat_server)
    args = endpoint_args(chat_server, eval_split, tmp_path / "out")
    args[args.index("category")] = "categroy"
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    assert "--label categroy: no record has this field" in result.stderr
    assert json.loads(result.stdout)["metrics"]["by_label"] == {}
