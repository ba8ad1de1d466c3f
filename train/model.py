"""Load the tokenizer (with its chat template) and the base model: QLoRA 4-bit NF4 by default,
8-bit or plain LoRA otherwise, and attach the LoRA adapter.

The one CPU-specific step: bitsandbytes 0.50 repacks ``Linear4bit`` weights for AVX512-BF16
after any eval-mode / no-grad forward, and training afterwards crashes (layers with bias) or
computes wrong LoRA gradients silently (layers without). ``disable_cpu_bf16_repack`` turns
that path off on every 4-bit layer before the first forward; tests/train compares the LoRA
gradients with a dequantized fp32 reference so the bug cannot come back unnoticed.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import ConfigError
from curate.models.loading import model_load_error
from train.builders import compute_dtype, get_peft_config, get_quantization_config
from train.config import TrainConfig
from train.demo_model import CHATML_TEMPLATE

MODES = {"4bit": "qlora-4bit-nf4", "8bit": "lora-8bit"}
# Auto gradient checkpointing from this size up (see TrainingSection.gradient_checkpointing).
CHECKPOINTING_FROM_PARAMS = 1_000_000_000


@dataclass
class LoadedModel:
    model: Any  # a PeftModel
    mode: str  # qlora-4bit-nf4 | lora-8bit | lora-fp32 | lora-bf16 | lora-fp16
    notes: list[str]  # one-line messages for the user (fallbacks)
    patched_4bit_layers: int = 0


def quiet_libraries() -> None:
    """Progress bars and notices from the libraries would drown our own stderr lines."""
    import logging

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    # bitsandbytes logs at import that an optional hub-downloaded CPU kernel is missing; the
    # built-in path it falls back to is the one we test.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # 8-bit matmuls log a dtype cast on every call.
    logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)


def resolve_chat_template(value: str) -> str:
    """``chatml``, a path to a Jinja file, or an inline template."""
    if value.lower() == "chatml":
        return CHATML_TEMPLATE
    p = Path(value)
    if p.is_file():
        try:
            return p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{value}: cannot read chat template: {exc}") from exc
    if "{{" in value or "{%" in value:
        return value
    raise ConfigError(
        f"--chat-template {value!r}: not a file, not an inline Jinja template, and not 'chatml'"
    )


def load_tokenizer(cfg: TrainConfig) -> Any:
    """The model's tokenizer with a chat template (from the model or ``--chat-template``)."""
    from transformers import AutoTokenizer

    name = cfg.model.name_or_path
    if not name:
        raise ConfigError("no model: give --model PATH_OR_ID (or model.name_or_path in --config)")
    try:
        tok = AutoTokenizer.from_pretrained(name, trust_remote_code=cfg.model.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise model_load_error(name, "a tokenizer", exc) from exc
    if cfg.model.chat_template:
        tok.chat_template = resolve_chat_template(cfg.model.chat_template)
    if not getattr(tok, "chat_template", None):
        raise ConfigError(
            f"--model {name}: the tokenizer has no chat template; pass --chat-template FILE "
            "(a Jinja template, ideally with {% generation %} markers) or --chat-template chatml"
        )
    if tok.pad_token is None:
        # Padding positions carry no loss (labels are -100), so reusing EOS is safe.
        tok.pad_token = tok.eos_token
    return tok


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def disable_cpu_bf16_repack(model: Any) -> int:
    """Turn off bitsandbytes' AVX512-BF16 weight repacking on every ``Linear4bit``.

    Must run before the first forward. Returns how many layers were patched.
    """
    import bitsandbytes as bnb

    n = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
            n += 1
    return n


def load_base(cfg: TrainConfig, cuda: bool) -> tuple[Any, str, list[str], int]:
    """The base model, quantized as asked when that works here. Returns (model, mode, notes,
    patched layers). A failed 4/8-bit load falls back to plain LoRA and says so in one line."""
    import torch
    from transformers import AutoModelForCausalLM

    name = cfg.model.name_or_path
    device_map = {"": torch.cuda.current_device() if cuda else "cpu"}
    dtype = compute_dtype(cuda)
    notes: list[str] = []
    kwargs = {"trust_remote_code": cfg.model.trust_remote_code, "device_map": device_map}
    if cfg.quantization != "none":
        try:
            qc = get_quantization_config(cfg, cuda)
            model = AutoModelForCausalLM.from_pretrained(
                name, quantization_config=qc, dtype=dtype, **kwargs
            )
        except (ImportError, RuntimeError, ValueError, NotImplementedError) as exc:
            notes.append(
                f"{cfg.quantization} unavailable ({_first_line(exc)}): training plain LoRA in "
                f"{_dtype_name(dtype)}"
            )
        else:
            patched = disable_cpu_bf16_repack(model) if cfg.quantization == "4bit" else 0
            return model, MODES[cfg.quantization], notes, patched
    try:
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype, **kwargs)
    except (OSError, ValueError) as exc:
        raise model_load_error(name, "the model", exc) from exc
    return model, f"lora-{_dtype_name(dtype)}", notes, 0


def _dtype_name(dtype: Any) -> str:
    return {"torch.float32": "fp32", "torch.bfloat16": "bf16", "torch.float16": "fp16"}[str(dtype)]


@contextlib.contextmanager
def quiet_peft_deprecations() -> Iterator[None]:
    """peft 0.21 calls transformers-5 deprecated ``*gradient_checkpointing*`` aliases; the
    FutureWarning is for peft's authors, not our users."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.*deprecated")
        yield


def load_model(cfg: TrainConfig, cuda: bool) -> LoadedModel:
    """Base model (QLoRA by default) + prepare for k-bit training + LoRA, seeded."""
    import torch
    from peft import get_peft_model, prepare_model_for_kbit_training

    model, mode, notes, patched = load_base(cfg, cuda)
    if cfg.training.gradient_checkpointing is None:
        n = sum(p.numel() for p in model.parameters())
        cfg.training.gradient_checkpointing = n >= CHECKPOINTING_FROM_PARAMS
        notes.append(
            f"gradient checkpointing {'on' if cfg.training.gradient_checkpointing else 'off'} "
            f"(auto: {n / 1e6:,.0f}M parameters)"
        )
    with quiet_peft_deprecations():
        if mode in MODES.values():
            model = prepare_model_for_kbit_training(
                model,
                use_gradient_checkpointing=cfg.training.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False},
            )
        torch.manual_seed(cfg.training.seed)  # LoRA A matrices are initialised randomly
        peft_model = get_peft_model(model, get_peft_config(cfg))
    return LoadedModel(peft_model, mode, notes, patched)
