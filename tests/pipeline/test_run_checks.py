"""`curate run`: decontamination against files (stage leakage), config checks before the
heavy stages, a findings summary on stderr and a card that describes the folder."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from curate.cli import main
from tests.pipeline.conftest import chat, good_rows


def invoke(*args: object):  # noqa: ANN201 - click Result
    return CliRunner().invoke(main, ["run", *map(str, args)])


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_against_in_config_drops_leaks_as_stage_leakage(tmp_path: Path) -> None:
    rows = good_rows(40)
    data = _write(tmp_path / "train.jsonl", rows)
    # A benchmark in Alpaca shape whose questions are those of rows 3, 7 and 11, answered
    # otherwise; it sits in a folder with a second file that leaks nothing.
    bench = tmp_path / "bench"
    bench.mkdir()
    copied = [rows[i]["messages"][0]["content"] for i in (2, 6, 10)]
    (bench / "eval.json").write_text(
        json.dumps([{"instruction": q, "input": "", "output": "Other answer."} for q in copied])
    )
    _write(bench / "more.jsonl", [chat("A question nobody asked in training?", "Yes.")])
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"dedup:\n  against: [{bench}]\n")
    out = tmp_path / "out"
    res = invoke(data, "-o", out, "--no-semantic", "--config", cfg, "--json", "--allow-rejects")
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)
    assert m["rejected_by_stage"]["leakage"] == {"leaked": 3}
    assert m["against"]["records"] == 4 and m["against"]["leaks"] == 3
    assert m["against"]["key"] == "prompt" and len(m["against"]["files"]) == 2
    assert m["balanced"] and m["kept"] == 37
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert sorted(r["line"] for r in rejects if r["stage"] == "leakage") == [3, 7, 11]
    assert "run: leakage: 3 records share the prompt of one of 4 records" in res.stderr
    # The flag form replaces the config's list.
    flag = invoke(
        data, "-o", out, "--no-semantic", "--against", bench / "more.jsonl", "--overwrite", "--json"
    )
    assert json.loads(flag.stdout)["against"]["leaks"] == 0


def test_config_fields_and_paths_fail_before_the_heavy_stages(tmp_path: Path) -> None:
    data = _write(tmp_path / "d.jsonl", good_rows(30))
    out = tmp_path / "out"
    # semantic on: a late failure would come after "embedding ..." on stderr
    res = invoke(data, "-o", out, "--stratify", "categroy")
    assert res.exit_code == 2
    assert "split.stratify: no record has the field 'categroy' (did you mean 'category'?)" in (
        res.stderr
    )
    assert "embedding" not in res.stderr and "dedup removed" not in res.stderr
    assert not out.exists()
    for yaml_text, message in [
        ("split:\n  group: user_id\n", "split.group: no record has the field 'user_id'"),
        ("audit:\n  label: topic\n", "audit.label: no record has the field 'topic'"),
        ("filter:\n  tokenizer: /no/tok\n", "filter.tokenizer: /no/tok: no such folder"),
        ("split:\n  tokenizer: /no/tok\n", "split.tokenizer: /no/tok: no such folder"),
        ("dedup:\n  against: [/no/bench.jsonl]\n", "against: /no/bench.jsonl: no such file"),
    ]:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml_text)
        res = invoke(data, "-o", out, "--config", cfg)
        assert res.exit_code == 2, yaml_text
        assert message in res.stderr, res.stderr
        assert "embedding" not in res.stderr
        assert not out.exists()
    bad = _write(tmp_path / "odd.jsonl", [{"q_text": "x"}])
    res = invoke(data, "-o", out, "--against", bad)
    assert res.exit_code == 2 and f"against: {bad}:1: unknown_format" in res.stderr
    assert "input records" not in res.stderr  # refused before the input was read


def test_summary_names_findings_and_card_describes_the_folder(tmp_path: Path) -> None:
    rows = good_rows(40)
    rows[4]["messages"][1]["content"] = "I'm sorry, but I can't help with that request."
    rows[9]["messages"][1]["content"] = "Hello {{name}}, I am {{author}}'s assistant for this."
    rows[14]["messages"][1]["content"] = "I'm sorry, but as an AI I cannot do that for you."
    data = _write(tmp_path / "d.jsonl", rows)
    out = tmp_path / "out"
    res = invoke(data, "-o", out, "--no-semantic", "--allow-rejects")
    assert res.exit_code == 0, res.output
    assert "0 rejected (none)" in res.stderr
    assert "run: audit findings in the kept data: " in res.stderr
    assert "refusal 2" in res.stderr and "template_placeholder 1" in res.stderr
    card = (out / "README.md").read_text()
    assert "This folder holds 40 records (`train.jsonl` 36, `test.jsonl` 4)" in card
    assert "### Refusal boilerplate (`refusal`, 2 records)" in card
    # Dropped before the split: the card says so, and no longer lists them as issues.
    cfg = tmp_path / "c.yaml"
    cfg.write_text("filter:\n  drop_findings: [refusal, template_placeholder]\n")
    res = invoke(
        data, "-o", out, "--no-semantic", "--config", cfg, "--overwrite", "--allow-rejects"
    )
    assert res.exit_code == 0, res.output
    assert "dropped for audit findings (filter.drop_findings): " in res.stderr
    card = (out / "README.md").read_text()
    assert "This folder holds 37 records" in card
    assert "- stage `audit`: `refusal` 2, `template_placeholder` 1" in card
    known = card.split("## Known issues")[1]
    assert "refusal" not in known and "template_placeholder" not in known
