"""Config: defaults, YAML < flag precedence, errors at load; the pure builders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from curate.cli import main
from curate.errors import ConfigError
from train.builders import get_peft_config, get_quantization_config, get_sft_config
from train.config import EXAMPLE_CONFIG, TrainConfig, dump_config, load_config


def test_defaults_follow_the_guide() -> None:
    cfg = load_config()
    assert cfg.training.learning_rate == 2e-4
    assert 1 <= cfg.training.epochs <= 3
    assert cfg.lora.r == 16 and cfg.lora_alpha == 32 and cfg.lora.dropout == 0.05
    assert 4 <= cfg.training.batch_size * cfg.training.gradient_accumulation_steps <= 16
    assert cfg.training.packing is False and cfg.training.assistant_only_loss is True
    assert cfg.quantization == "4bit" and cfg.lora.target_modules == "all-linear"


def test_yaml_then_flags_take_precedence(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("training:\n  learning_rate: 1e-4\n  epochs: 3\nlora:\n  r: 32\n")
    cfg = load_config(path, {"training.learning_rate": 5e-5, "lora.r": None})
    assert cfg.training.learning_rate == 5e-5  # flag beats file
    assert cfg.lora.r == 32 and cfg.lora_alpha == 64  # file beats default; None = not given
    assert cfg.training.epochs == 3.0  # YAML 1.1 reads 1e-4 as a string: coerced above too


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "training:\n  learnin_rate: 1e-4\n",
            "unknown key in 'training': 'learnin_rate' (did you mean",
        ),
        ("trainer:\n  epochs: 1\n", "unknown section: 'trainer' (did you mean 'training'?)"),
        ("lora:\n  r: sixteen\n", "lora.r: expected int"),
        ("model:\n  load_in_4bit: true\n  load_in_8bit: true\n", "both true"),
        ("lora:\n  r: 0\n", "lora.r must be > 0"),
        ("training:\n  learning_rate: 0\n", "learning_rate must be > 0"),
        ("data:\n  on_bad_rows: ignore\n", "data.on_bad_rows must be one of"),
        ("training: [1, 2]\n", "must be a mapping"),
        ("training:\n  epochs: [1\n", "invalid YAML"),
    ],
)
def test_bad_configs_fail_at_load(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as info:
        load_config(path)
    assert needle in str(info.value)


def test_require_gpu_without_cuda_fails_at_load() -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        load_config(None, {"model.require_gpu": True}, cuda_available=False)
    assert load_config(None, {"model.require_gpu": True}, cuda_available=True).model.require_gpu


def test_example_config_loads_to_the_defaults_and_dump_round_trips(tmp_path: Path) -> None:
    example = tmp_path / "example.yaml"
    example.write_text(EXAMPLE_CONFIG)
    assert load_config(example) == TrainConfig()
    cfg = load_config(None, {"training.max_steps": 7, "lora.target_modules": ["q_proj"]})
    resolved = tmp_path / "resolved.yaml"
    resolved.write_text(dump_config(cfg))
    assert load_config(resolved) == cfg


def test_quantization_config_is_nf4_double_quant() -> None:
    q = get_quantization_config(load_config(), cuda=False)
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == torch.float32  # exact on CPU
    assert get_quantization_config(load_config(None, {"model.load_in_4bit": False})) is None
    eight = get_quantization_config(
        load_config(None, {"model.load_in_4bit": False, "model.load_in_8bit": True}), cuda=False
    )
    assert eight.load_in_8bit and not eight.load_in_4bit


def test_peft_config_targets_all_linear_layers() -> None:
    lc = get_peft_config(load_config(None, {"lora.r": 8, "lora.dropout": 0.1}))
    assert (lc.r, lc.lora_alpha, lc.lora_dropout) == (8, 16, 0.1)
    assert lc.target_modules == "all-linear" and lc.task_type == "CAUSAL_LM"


def test_sft_config_on_cpu(tmp_path: Path) -> None:
    cfg = load_config(None, {"training.max_length": 256, "training.max_steps": 5})
    sft = get_sft_config(cfg, tmp_path, cuda=False)
    assert sft.max_steps == 5 and sft.learning_rate == 2e-4
    assert sft.bf16 is False and sft.use_cpu is True and sft.packing is False
    # padding-free by default: pre-flight cut the rows, TRL gets no max_length to enforce
    assert sft.padding_free is True and sft.max_length is None
    padded = load_config(None, {"training.max_length": 256, "training.padding_free": False})
    assert get_sft_config(padded, tmp_path, cuda=False).max_length == 256
    packed = load_config(None, {"training.max_length": 256, "training.packing": True})
    assert get_sft_config(packed, tmp_path, cuda=False).max_length == 256
    # auto (None) until the model is loaded; an explicit choice goes straight through
    assert cfg.training.gradient_checkpointing is None and sft.seed == 0
    assert sft.activation_checkpointing is False
    on = load_config(None, {"training.gradient_checkpointing": True})
    assert get_sft_config(on, tmp_path, cuda=False).activation_checkpointing is True
    assert sft.eval_strategy == "epoch" and sft.save_strategy == "epoch"
    # Labels are built (and checked) by pre-flight, so TRL must not re-mask them.
    assert sft.assistant_only_loss is False
    assert get_sft_config(cfg, tmp_path, cuda=False, has_eval=False).eval_strategy == "no"


def test_cli_init_writes_a_loadable_commented_config(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    result = CliRunner().invoke(main, ["train", "--init", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "# " in path.read_text() and yaml.safe_load(path.read_text())["lora"]["r"] == 16
    assert load_config(path) == TrainConfig()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--rank", "0"], "lora.r must be > 0"),
        (["--lr", "-1"], "learning_rate must be > 0"),
        (["--no-quantize", "--load-in-8bit"], "contradict"),
    ],
)
def test_cli_config_errors_exit_2_before_any_model(
    tmp_path: Path, memo_split: Path, extra: list[str], needle: str
) -> None:
    out = tmp_path / "out"
    args = ["train", str(memo_split), "-o", str(out), "--model", "no/such-model", *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()  # failed before anything was loaded or written


def test_cli_unknown_config_key_exits_2(tmp_path: Path, memo_split: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lora:\n  rank: 8\n")
    args = ["train", str(memo_split), "-o", str(tmp_path / "o"), "--config", str(cfg)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "unknown key in 'lora': 'rank'" in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_cli_require_gpu_without_cuda_exits_2(tmp_path: Path, memo_split: Path) -> None:
    args = ["train", str(memo_split), "-o", str(tmp_path / "o"), "--model", "x", "--require-gpu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "no CUDA GPU" in result.stderr


def test_gradient_checkpointing_auto_is_off_for_a_small_model(memo_model_dir: Path) -> None:
    from train.model import load_model

    cfg = load_config(
        None, {"model.name_or_path": str(memo_model_dir), "model.load_in_4bit": False}
    )
    loaded = load_model(cfg, cuda=False)
    assert cfg.training.gradient_checkpointing is False
    assert any("gradient checkpointing off (auto" in n for n in loaded.notes)
