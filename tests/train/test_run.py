"""Real training runs on CPU with the tiny model: loss falls, the loss watch, outputs, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from curate.cli import main
from curate.errors import ConfigError
from train.config import load_config
from train.run import train_model
from train.watch import LossWatch


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def test_qlora_run_loss_falls_on_a_memorisation_set(qlora_run: dict[str, Any]) -> None:
    m = qlora_run["metrics"]
    assert m["quantization"] == "qlora-4bit-nf4" and m["device"] == "cpu"
    assert m["cpu_bf16_repack_disabled_layers"] == 14  # 2 blocks x 7 linear layers
    assert m["global_step"] == 30
    losses = [h["loss"] for h in m["loss_history"]]
    assert len(losses) == 30 and all(math.isfinite(x) for x in losses)
    assert mean(losses[-5:]) < 0.6 * mean(losses[:5])
    evals = [e["eval_loss"] for e in m["eval_history"]]
    assert len(evals) >= 2 and evals[-1] < evals[0]  # eval on the val split each epoch


def test_loss_watch_stays_quiet_on_a_normal_run(qlora_run: dict[str, Any]) -> None:
    assert qlora_run["metrics"]["watch_events"] == []
    assert "loss watch" not in qlora_run["result"].stderr


def test_run_outputs(qlora_run: dict[str, Any], memo_model_dir: Path) -> None:
    out: Path = qlora_run["out"]
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json"):
        assert (out / name).is_file(), name
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    resolved = load_config(out / "train_config.yaml")
    assert resolved.model.name_or_path == str(memo_model_dir)
    assert resolved.training.learning_rate == 1e-2 and resolved.training.max_steps == 30
    m = json.loads((out / "metrics.json").read_text())
    assert m == qlora_run["metrics"]
    assert m["tokens_per_second"] > 0 and m["peak_rss_bytes"] > 0 and m["wall_time_s"] > 0
    assert m["preflight"]["train"]["rows"] == 12 and m["preflight"]["masking"] == (
        "generation_markers"
    )
    stderr = qlora_run["result"].stderr
    assert "pre-flight: 12 train rows" in stderr and "fewer than 100" in stderr
    assert "(qlora-4bit-nf4)" in stderr
    # roles: val gives the eval loss; test.jsonl (unreadable on purpose) is never opened
    assert "val.jsonl (4 rows)" in stderr and "held out, not read: " in stderr
    assert m["preflight"]["eval"]["rows"] == 4


def test_tokens_per_second_counts_training_time_only(qlora_run: dict[str, Any]) -> None:
    m = qlora_run["metrics"]
    # eval ran inside the loop (each epoch); its seconds are reported apart, not in tokens/s
    assert m["eval_runtime_s"] > 0 and len(m["eval_history"]) >= 2
    # train_runtime_s is rounded to ms in metrics.json and tokens_per_second to 0.1: on a fast
    # machine the loop takes ~0.1 s, where a ms is ~0.5%, so bound it by the rounding itself
    runtime, tokens = m["train_runtime_s"], m["train_tokens"]
    low, high = tokens / (runtime + 0.0005) - 0.05, tokens / (runtime - 0.0005) + 0.05
    assert low <= m["tokens_per_second"] <= high


def test_loss_watch_fires_on_a_forced_divergence(
    tmp_path: Path, merged_dir: Path, memo_split: Path, fast: dict[str, Any]
) -> None:
    """Start from the model that has memorised the set (low loss), then a huge lr blows it up."""
    cfg = load_config(
        None,
        {
            **fast,
            "model.name_or_path": str(merged_dir),
            "model.load_in_4bit": False,
            "training.learning_rate": 5.0,
            "training.max_steps": 25,
            "watch.stop_on_divergence": True,
        },
    )
    lines: list[str] = []
    m = train_model(memo_split, tmp_path / "out", cfg, log=lines.append, progress=False)
    first = m["loss_history"][0]["loss"]
    assert first < 3.0  # the merged model starts from a low loss
    kinds = {e["kind"] for e in m["watch_events"]}
    assert kinds & {"spike", "diverged"}
    assert m["global_step"] < 25  # --stop-on-divergence stopped it
    assert m["quantization"] == "lora-fp32"
    said = [x for x in lines if x.startswith("loss watch:")]
    assert said and "learning rate 5 is" in said[0]


def test_loss_watch_unit() -> None:
    quiet = LossWatch(learning_rate=2e-4)
    for step in range(1, 61):
        assert quiet.observe(step, 3.0 * 0.97**step) is False
    assert quiet.events == []

    spike = LossWatch(learning_rate=2e-4, stop_on_divergence=True)
    for step, loss in enumerate([3.0, 2.9, 2.8, 2.8, 2.7, 2.6, 9.0], start=1):
        stop = spike.observe(step, loss)
    assert stop is True and [e.kind for e in spike.events] == ["spike"]
    assert "too high; try 0.0001" in spike.events[0].message

    nan = LossWatch(learning_rate=1.0)
    nan.observe(1, float("nan"))
    assert [e.kind for e in nan.events] == ["diverged"]

    flat = LossWatch(learning_rate=1e-6, flat_window=10)
    for step in range(1, 31):
        flat.observe(step, 4.0 - 0.0001 * step)
    assert [e.kind for e in flat.events] == ["flat"]  # once per run
    assert "too low (try 2e-06" in flat.events[0].message

    bounce = LossWatch(learning_rate=1e-3, flat_window=8)
    for step in range(1, 9):
        bounce.observe(step, 4.0 + (0.3 if step % 2 else -0.3))
    assert bounce.events[-1].kind == "flat" and "too high" in bounce.events[-1].message


def test_resume_continues_from_the_last_checkpoint(
    tmp_path: Path, memo_model_dir: Path, memo_split: Path, fast: dict[str, Any]
) -> None:
    base = {
        **fast,
        "model.name_or_path": str(memo_model_dir),
        "model.load_in_4bit": False,
        "training.save_strategy": "steps",
        "training.save_steps": 2,
        "training.learning_rate": 1e-2,
    }
    out = tmp_path / "out"
    first = train_model(
        memo_split, out, load_config(None, {**base, "training.max_steps": 2}), progress=False
    )
    assert first["global_step"] == 2 and (out / "checkpoints" / "checkpoint-2").is_dir()
    with pytest.raises(ConfigError, match="--resume"):
        train_model(memo_split, out, load_config(None, base), progress=False)
    cfg = load_config(None, {**base, "training.max_steps": 4})
    said: list[str] = []
    second = train_model(memo_split, out, cfg, resume=True, progress=False, log=said.append)
    assert second["global_step"] == 4
    assert f"resuming from {out / 'checkpoints' / 'checkpoint-2'}" in said
    assert [h["step"] for h in second["loss_history"]][:2] == [1, 2]  # history carried over
    assert (out / "checkpoints" / "checkpoint-4").is_dir()
    resolved = yaml.safe_load((out / "train_config.yaml").read_text())
    assert resolved["training"]["max_steps"] == 4


def test_cli_train_on_a_single_file_with_drop_policy(
    tmp_path: Path, memo_model_dir: Path, memo_rows: list[dict]
) -> None:
    data = tmp_path / "data.jsonl"
    rows = [*memo_rows, {"messages": [{"role": "user", "content": "no answer"}]}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("training:\n  save_strategy: 'no'\n  gradient_checkpointing: false\n")
    out = tmp_path / "out"
    args = ["train", str(data), "-o", str(out), "--model", str(memo_model_dir), "--config"]
    args += [str(cfg), "--max-steps", "2", "--on-bad-rows", "drop", "--no-quantize", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # data/JSON only on stdout; nothing asked for
    assert "no eval rows" in result.stderr and "dropped 1 row" in result.stderr
    rejects = [json.loads(x) for x in (out / "preflight_rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [(13, "no_assistant")]
    m = json.loads((out / "metrics.json").read_text())
    assert m["quantization"] == "lora-fp32" and m["eval_loss"] is None
    assert m["preflight"]["train"]["kept"] == 12


def test_cli_missing_model_folder_is_named_plainly(tmp_path: Path, memo_split: Path) -> None:
    missing = tmp_path / "no-such-model"
    result = CliRunner().invoke(
        main, ["train", str(memo_split), "-o", str(tmp_path / "out"), "--model", str(missing)]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: {missing}: no such folder (a Hugging Face id must already be in the local "
        "cache: nothing is downloaded here)"
    )


def test_same_seed_gives_byte_identical_adapters(
    tmp_path: Path, memo_model_dir: Path, memo_split: Path, fast: dict[str, Any]
) -> None:
    cfg = load_config(
        None, {**fast, "model.name_or_path": str(memo_model_dir), "training.max_steps": 3}
    )
    blobs = []
    for name in ("a", "b"):
        train_model(memo_split, tmp_path / name, cfg, progress=False, log=lambda _: None)
        blobs.append((tmp_path / name / "adapter_model.safetensors").read_bytes())
    assert blobs[0] == blobs[1]


@pytest.mark.parametrize(
    ("extra", "mode"),
    [
        ({"training.packing": True, "training.max_length": 128}, "qlora-4bit-nf4"),
        ({"model.load_in_4bit": False, "model.load_in_8bit": True}, "lora-8bit"),
    ],
)
def test_packing_and_8bit_paths_train(
    tmp_path: Path,
    memo_model_dir: Path,
    memo_split: Path,
    fast: dict[str, Any],
    extra: dict[str, Any],
    mode: str,
) -> None:
    cfg = load_config(
        None,
        {
            **fast,
            **extra,
            "model.name_or_path": str(memo_model_dir),
            "training.max_steps": 4,
            "training.learning_rate": 1e-2,
        },
    )
    m = train_model(memo_split, tmp_path / "out", cfg, progress=False, log=lambda _: None)
    losses = [h["loss"] for h in m["loss_history"]]
    assert m["quantization"] == mode and len(losses) == 4 and losses[-1] < losses[0]
