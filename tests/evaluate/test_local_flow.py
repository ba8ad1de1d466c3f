"""The whole flow on CPU with the tiny local model: base vs a few-step adapter, and merged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.evaluate import EvalConfig, SideSpec, read_generations, run_eval
from curate.evaluate.generate import DecodeSettings
from tests.evaluate.eval_helpers import QA

DECODE = DecodeSettings(max_new_tokens=12, batch_size=4)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny model runs faster on one thread on a shared 2-core machine (see conftest)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def adapter_run(one_torch_thread, tiny_model_dir, adapter_dir, eval_split, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_adapter")
    cfg = EvalConfig(
        str(eval_split),
        str(out),
        SideSpec(str(tiny_model_dir)),
        SideSpec(adapter=str(adapter_dir)),
        decode=DECODE,
        label_field="category",
    )
    return out, run_eval(cfg)


def test_adapter_flow_writes_outputs_and_tuned_wins(adapter_run):
    out, result = adapter_run
    report = json.loads((out / "eval.json").read_text())
    assert report == json.loads(json.dumps(result.report))
    assert (out / "eval.html").stat().st_size > 1000
    gens = read_generations(out / "generations.jsonl")
    assert sorted(gens) == sorted(f"r{i}" for i in range(len(QA)))
    assert report["data"]["evaluated"] == len(QA)
    assert report["generation"] == {
        "base_generated": 10,
        "base_reused": 0,
        "tuned_generated": 10,
        "tuned_reused": 0,
    }
    metrics = report["metrics"]["metrics"]
    # The adapter memorised the answers, the random base did not.
    assert metrics["token_f1"]["tuned"] > metrics["token_f1"]["base"] + 0.3
    assert metrics["exact_match"]["tuned"] >= 0.5
    assert set(report["metrics"]["by_label"]) == {"math", "lang", "json", "qa"}
    assert report["metrics"]["by_label"]["math"]["n"] == 3
    # the sign test per category adds up to the overall one
    per = [b["comparison"] for b in report["metrics"]["by_label"].values()]
    metric = report["comparisons"]["metric"]
    for key in ("wins", "ties", "losses"):
        assert sum(c[key] for c in per) == metric[key]
    assert all(0 < c["p_value"] <= 1 and c["verdict"] for c in per)
    assert "sign test p" in (out / "eval.html").read_text()
    assert metric["source"] == "metric:rouge_l"
    assert metric["wins"] >= 5 and metric["losses"] == 0
    assert report["decided_by"] == "metric:rouge_l"
    assert f"only {len(QA)} compared examples (fewer than 50)" in result.verdict
    assert result.verdict.startswith(f"fine-tune better on {metric['wins']}/")


def test_rerun_reuses_generations_and_regenerates_when_settings_change(
    adapter_run, tiny_model_dir, adapter_dir, eval_split
):
    out, first = adapter_run
    before = (out / "generations.jsonl").read_bytes()
    cfg = EvalConfig(
        str(eval_split),
        str(out),
        SideSpec(str(tiny_model_dir)),
        SideSpec(adapter=str(adapter_dir)),
        decode=DECODE,
        label_field="category",
    )
    again = run_eval(cfg)
    assert again.report["generation"] == {
        "base_generated": 0,
        "base_reused": 10,
        "tuned_generated": 0,
        "tuned_reused": 10,
    }
    assert (out / "generations.jsonl").read_bytes() == before
    assert again.report["metrics"] == first.report["metrics"]
    # A new base system prompt invalidates the base side only.
    cfg.base_system_prompt = "You are a concise assistant."
    third = run_eval(cfg)
    assert third.report["generation"]["base_generated"] == 10
    assert third.report["generation"]["tuned_reused"] == 10


def test_merged_folder_generates_what_the_adapter_does(
    adapter_run, tiny_model_dir, merged_dir, eval_split, tmp_path
):
    out, _ = adapter_run
    cfg = EvalConfig(
        str(eval_split),
        str(tmp_path),
        SideSpec(str(tiny_model_dir)),
        SideSpec(str(merged_dir)),
        decode=DECODE,
    )
    run_eval(cfg)
    merged = read_generations(tmp_path / "generations.jsonl")
    via_adapter = read_generations(out / "generations.jsonl")
    assert {k: v["tuned"] for k, v in merged.items()} == {
        k: v["tuned"] for k, v in via_adapter.items()
    }


def test_cli_adapter_run_require_win_and_regression(
    tiny_model_dir, adapter_dir, eval_split, tmp_path: Path
):
    regression = tmp_path / "general.jsonl"
    regression.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "Capital of France?"},
                    {"role": "assistant", "content": "Paris"},
                ]
            }
        )
        + "\n"
    )
    args = [
        "eval",
        str(eval_split),
        "-o",
        str(tmp_path / "out"),
        "--base",
        str(tiny_model_dir),
        "--adapter",
        str(adapter_dir),
        "--max-new-tokens",
        "12",
        "--label",
        "category",
        "--max-examples",
        "6",
        "--regression",
        str(regression),
        "--fail-on-regression",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    assert "verdict: fine-tune better on" in result.stderr
    assert "fewer than 50" in result.stderr
    report = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert report["data"]["evaluated"] == 6 and report["data"]["beyond_max_examples"] == 4
    assert report["regression"]["regressed"] is False
    # Six comparisons can never reach p < 0.05 in a two-sided sign test (min p = 0.03125
    # needs 6/6); with --alpha 0.01 the requirement fails and the exit code says so.
    result = CliRunner().invoke(main, [*args, "--require-win", "--alpha", "0.01"])
    assert result.exit_code == 1, result.stderr
    assert "--require-win not met" in result.stderr


def test_cli_both_adapter_and_tuned_is_a_usage_error(
    tiny_model_dir, adapter_dir, merged_dir, eval_split, tmp_path
):
    result = CliRunner().invoke(
        main,
        [
            "eval",
            str(eval_split),
            "-o",
            str(tmp_path),
            "--base",
            str(tiny_model_dir),
            "--adapter",
            str(adapter_dir),
            "--tuned",
            str(merged_dir),
        ],
    )
    assert result.exit_code == 2
    assert "either --adapter or --tuned" in result.stderr
