"""`curate run`: all stages, manifest arithmetic, atomic output, gates, reruns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.pipeline import load_run_config, run_pipeline
from curate.pipeline.manifest import verify
from curate.split.allocate import min_records
from tests.conftest import SAMPLE_DATA
from tests.pipeline.conftest import BAD_LINES

OUTPUTS = {
    "train.jsonl",
    "test.jsonl",
    "rejects.jsonl",
    "report.json",
    "report.html",
    "README.md",
    "manifest.json",
}


def invoke(*args: str):
    return CliRunner().invoke(main, ["run", *map(str, args)])


def test_run_sample_data_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = invoke(
        SAMPLE_DATA / "sample.jsonl", "-o", out, "--config", SAMPLE_DATA / "curate.yaml", "--json"
    )
    assert res.exit_code == 1, res.output  # the sample's planted problems are rejected
    manifest = json.loads(res.stdout)
    n_in, n_rej = manifest["input"]["records"], manifest["rejected"]
    assert f"run: exit 1: {n_rej:,} of {n_in:,} records rejected" in res.stderr
    assert OUTPUTS <= {p.name for p in out.iterdir()}
    assert manifest == json.loads((out / "manifest.json").read_text())
    assert verify(out, manifest) == []
    inp = manifest["input"]
    raw_lines = (SAMPLE_DATA / "sample.jsonl").read_bytes().splitlines()
    blank = sum(1 for x in raw_lines if not x.strip())
    assert (inp["lines"], inp["blank_lines"], inp["records"]) == (
        len(raw_lines),
        blank,
        len(raw_lines) - blank,
    )
    assert manifest["balanced"] and inp["records"] == manifest["kept"] + manifest["rejected"]
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == manifest["rejected"]
    reason_of = {r["line"]: r["reason"] for r in rejects}
    planted = json.loads((SAMPLE_DATA / "planted.json").read_text())
    expected = {
        "bad_json": "json_decode",
        "empty_content": "empty_content",
        "no_assistant": "no_assistant",
        "unknown_role": "unknown_role",
        # the sample config's filter.drop_findings: flagged by the audit, dropped before split
        "placeholder": "template_placeholder",
        "repetition": "repetition",
        "refusal": "refusal",
    }
    stage_of = {r["line"]: r["stage"] for r in rejects}
    assert [stage_of[p["line"]] for p in planted if p["kind"] == "placeholder"] == ["audit"]
    for p in planted:
        if p["kind"] in expected:
            assert reason_of[p["line"]] == expected[p["kind"]], p
        if p["kind"] in ("exact_duplicate", "near_duplicate"):
            # keep=first: the later line of the pair is the one removed
            later = max(p["line"], p["of_line"])
            assert reason_of[later] == p["kind"], p
    page = (out / "report.html").read_text(encoding="utf-8")
    # The run's page opens with where every record went, then the audit sections.
    assert page.index("<h2>Run</h2>") < page.index("<h2>Findings</h2>")
    assert "<td>audit</td><td>template_placeholder</td>" in page.replace("\n", "")
    report = json.loads((out / "report.json").read_text())
    # The detector traps (issue 10, item 9) all reach train/test, and no language or refusal
    # finding names them.
    traps = {p["line"] for p in planted if p["kind"].startswith("trap_")}
    assert len(traps) == 7 and not traps & set(reason_of)
    flagged = {
        ln
        for f in report["audit"]["findings"]
        if f["code"] in ("language_mismatch", "refusal")
        for ln in f["lines"]
    }
    assert not flagged & traps
    split = report["split"]
    assert split["leakage"]["total"] == 0 and split["leakage"]["checked"]
    for s in split["strata"]:
        if s["records"] >= min_records(0.1):
            assert abs(s["test"] - 0.1 * s["records"]) <= 1
    categories = {
        json.loads(x).get("category")
        for name in ("train", "test")
        for x in (out / f"{name}.jsonl").read_text().splitlines()
    }
    assert len(split["strata"]) == len(categories) >= 5
    # rerun into the same folder: --overwrite needed, and the files come out byte-identical
    again = invoke(SAMPLE_DATA / "sample.jsonl", "-o", out, "--config", SAMPLE_DATA / "curate.yaml")
    assert again.exit_code == 2 and "pass --overwrite" in again.stderr
    first = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    again = invoke(
        SAMPLE_DATA / "sample.jsonl",
        "-o",
        out,
        "--config",
        SAMPLE_DATA / "curate.yaml",
        "--overwrite",
        "--allow-rejects",
    )
    assert again.exit_code == 0, again.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == first


def test_manifest_arithmetic_with_every_kind_of_bad_row(messy_file, tmp_path: Path) -> None:
    path, non_blank = messy_file
    config = load_run_config(None, {"run": {"semantic": False}, "filter": {"max_tokens": 2000}})
    result = run_pipeline(str(path), tmp_path / "out", config)
    m = result.manifest
    assert m["input"]["blank_lines"] == 2
    assert m["input"]["records"] == non_blank == 51
    assert m["kept"] + m["rejected"] == m["input"]["records"]
    assert m["kept"] == sum(m["outputs"].values()) == 40
    reasons = m["rejected_by_reason"]
    for code in [c for _, c in BAD_LINES if not c.startswith("VALIDATE")] + ["unknown_format"]:
        assert reasons.get(code) == 1, (code, reasons)
    assert reasons["exact_duplicate"] == 1 and reasons["near_duplicate"] == 1
    assert sum(m["rejected_by_stage"].get("validate", {}).values()) >= 1
    rejects = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == m["rejected"] == 11
    for r in rejects:
        assert {"source", "line", "stage", "reason", "detail"} <= set(r)
        assert ("record" in r) or ("raw" in r)
    kept_lines = [
        json.loads(x)
        for name in ("train", "test")
        for x in (tmp_path / "out" / f"{name}.jsonl").read_text().splitlines()
    ]
    assert len(kept_lines) == 40 and all("category" in r for r in kept_lines)


def test_gate_failure_exits_1_and_still_writes(messy_file, tmp_path: Path) -> None:
    path, _ = messy_file
    out = tmp_path / "out"
    res = invoke(path, "-o", out, "--no-semantic", "--fail-on", "min_records=1000")
    assert res.exit_code == 1, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["gates"]["passed"] is False and manifest["gates"]["failed"]
    assert "gate failed" in res.stderr


def test_two_failed_gates_are_each_said_once_and_one_exit_line(messy_file, tmp_path: Path) -> None:
    # qa10 #11: the rule was printed twice in each gate line, and each reason got its own
    # "exit 1:" line.
    path, _ = messy_file
    out = tmp_path / "out"
    gates = ["--fail-on", "min_records=1000", "--fail-on", "max_records=1"]
    res = invoke(path, "-o", out, "--no-semantic", *gates)
    assert res.exit_code == 1, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    n = manifest["input"]["records"] - manifest["rejected"]
    failed = [f"min_records=1000: records is {n}", f"max_records=1: records is {n}"]
    assert manifest["gates"]["failed"] == failed
    lines = res.stderr.splitlines()
    assert [x for x in lines if "gate failed" in x and "exit 1" not in x] == [
        f"run: gate failed: {f}" for f in failed
    ]
    (exit_line,) = [x for x in lines if x.startswith("run: exit 1:")]
    assert exit_line.startswith(f"run: exit 1: gate failed: {failed[0]}; gate failed: {failed[1]}")


def test_stratify_and_group_flags_reach_split(messy_file, tmp_path: Path) -> None:
    path, _ = messy_file
    out = tmp_path / "out"
    res = invoke(
        path,
        "-o",
        out,
        "--no-semantic",
        "--stratify",
        "category",
        "--test-size",
        "0.25",
        "--val-size",
        "0.25",
        "--seed",
        "2",
        "--json",
        "--allow-rejects",
    )
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)
    assert m["seed"] == 2 and m["config"]["split"]["stratify"] == ["category"]
    assert set(m["outputs"]) == {"train", "test", "val"}
    assert m["outputs"]["test"] == 10 and m["outputs"]["val"] == 10


def test_config_typo_is_exit_2_before_any_output(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dedup:\n  method: [exact]\n")
    res = invoke(SAMPLE_DATA / "sample.jsonl", "-o", tmp_path / "out", "--config", cfg)
    assert res.exit_code == 2
    assert res.stderr.strip().endswith("unknown key in 'dedup': 'method' (did you mean 'methods'?)")
    assert not (tmp_path / "out").exists()


def test_missing_input_is_exit_2(tmp_path: Path) -> None:
    res = invoke(tmp_path / "nope.jsonl", "-o", tmp_path / "out")
    assert res.exit_code == 2 and "no such file" in res.stderr
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []  # no staging debris either


@pytest.mark.parametrize("existing", ["absent", "empty"])
def test_output_folder_absent_or_empty_is_fine(messy_file, tmp_path, existing) -> None:
    path, _ = messy_file
    out = tmp_path / "out"
    if existing == "empty":
        out.mkdir()
    res = invoke(path, "-o", out, "--no-semantic", "--allow-rejects")
    assert res.exit_code == 0, res.output
    assert OUTPUTS <= {p.name for p in out.iterdir()}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_compact_shares_strings_without_changing_values() -> None:
    from curate.pipeline.stages import compact
    from curate.records import Record

    def make() -> Record:
        msgs = [
            {"role": "".join(["sys", "tem"]), "content": "".join(["Be ", "brief."])},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ]
        return Record("m", 1, {"messages": msgs, "category": "".join(["q", "a"])})

    a, b = make(), make()
    before = json.dumps(a.data)
    compact(a), compact(b)
    assert json.dumps(a.data) == before
    assert a.data["category"] is b.data["category"]
    assert a.data["messages"][0]["content"] is b.data["messages"][0]["content"]


def test_the_pipeline_never_picks_an_engine_it_is_not_given(messy_file, tmp_path: Path) -> None:
    # The engine plugs into the pipeline from above (curate.engine.run_pipeline); a library
    # caller who asks the pipeline itself for ray gets a clear error, and DIR is not made.
    from curate.errors import ConfigError

    config = load_run_config(None, {"run": {"engine": "ray"}})
    with pytest.raises(ConfigError, match="curate.engine.run_pipeline"):
        run_pipeline(str(messy_file), tmp_path / "out", config)
    assert not (tmp_path / "out").exists()


def test_the_stages_kept_positions_are_freed_before_the_writing(
    messy_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stages that keep every record (audit, split; on the Ray driver, the engine's) hold
    # the positions they kept (8 bytes a row each); once the run has taken the stages'
    # outputs, none may live through the writing, the run's peak (on the Ray driver: 5.4 MiB
    # at 400k bench rows, 2.7 MiB a stage).
    import gc
    import weakref

    from curate.pipeline import run as run_module
    from curate.stage import BatchResult

    kept: list[weakref.ref] = []
    real_keep_all = BatchResult.keep_all

    def noted(batch, output=None, stats=None) -> BatchResult:
        res = real_keep_all(batch, output, stats)
        kept.append(weakref.ref(res.kept))
        return res

    alive_at_writing: list[int] = []
    real_log = run_module._log

    def log(message: str) -> None:
        if message == "writing outputs":
            gc.collect()
            alive_at_writing.append(sum(ref() is not None for ref in kept))
        real_log(message)

    monkeypatch.setattr(BatchResult, "keep_all", noted)
    monkeypatch.setattr(run_module, "_log", log)
    config = load_run_config(None, {"run": {"semantic": False}, "filter": {"max_tokens": 2000}})
    run_pipeline(str(messy_file[0]), tmp_path / "out", config)
    assert len(kept) >= 2  # the audit and the split
    assert alive_at_writing == [0]
