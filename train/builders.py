"""Pure functions that turn a ``TrainConfig`` into library objects (unit-tested, no model).

Heavy imports stay inside the functions so importing ``train`` is cheap.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from train.config import TrainConfig

if TYPE_CHECKING:
    import torch
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig
    from trl import SFTConfig


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def compute_dtype(cuda: bool) -> torch.dtype:
    """bf16 on a CUDA GPU that supports it, fp16 on an older one, fp32 on CPU.

    On CPU the 4-bit matmuls dequantize to the compute dtype; fp32 is what bitsandbytes 0.50
    computes exactly (and bf16 autocast is slower on these CPUs).
    """
    import torch

    if not cuda:
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def get_quantization_config(
    cfg: TrainConfig, cuda: bool | None = None
) -> BitsAndBytesConfig | None:
    """4-bit NF4 with double quantization (QLoRA), 8-bit, or None for plain LoRA."""
    from transformers import BitsAndBytesConfig

    if cuda is None:
        cuda = cuda_available()
    if cfg.model.load_in_4bit:
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype(cuda),
        )
    if cfg.model.load_in_8bit:
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def get_peft_config(cfg: TrainConfig) -> LoraConfig:
    """LoRA on all linear layers by default (the QLoRA paper's choice), alpha = 2 * r."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )


def get_sft_config(
    cfg: TrainConfig,
    output_dir: str | os.PathLike[str],
    cuda: bool | None = None,
    has_eval: bool = True,
) -> SFTConfig:
    """TRL's SFTConfig for our pre-tokenized dataset.

    The dataset handed to SFTTrainer already holds ``input_ids`` and ``labels`` (built and
    checked by pre-flight), so TRL does not re-tokenize it: ``assistant_only_loss`` is applied
    in our labels and stays False here. Progress printing is ours (stderr), so TRL's tqdm is off.
    """
    from trl import SFTConfig

    if cuda is None:
        cuda = cuda_available()
    t = cfg.training
    bf16 = _bf16(cuda)
    eval_strategy = "epoch" if has_eval else "no"
    return SFTConfig(
        output_dir=str(output_dir),
        learning_rate=t.learning_rate,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        # Pre-flight has already cut every row to max_length; TRL refuses padding-free batches
        # with a max_length it cannot enforce, so it only gets one when it packs.
        max_length=t.max_length if t.packing or not t.padding_free else None,
        packing=t.packing,
        padding_free=t.padding_free,
        assistant_only_loss=False,
        **_checkpointing_kwargs(bool(t.gradient_checkpointing)),  # None (auto) resolves at load
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # a float < 1 is a ratio of the total steps
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        seed=t.seed,
        data_seed=t.seed,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        eval_strategy=eval_strategy,
        save_strategy=t.save_strategy,
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        bf16=bf16,
        fp16=bool(cuda and not bf16),
        use_cpu=not cuda,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=True,
    )


def _checkpointing_kwargs(on: bool) -> dict[str, Any]:
    """transformers >= 5.2x names it ``activation_checkpointing``; older 5.x (e.g. 5.17, on
    GPU images) only knows ``gradient_checkpointing``."""
    import dataclasses

    from trl import SFTConfig

    names = {f.name for f in dataclasses.fields(SFTConfig)}
    key = (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )
    return {key: on, f"{key}_kwargs": {"use_reentrant": False}}


def _bf16(cuda: bool) -> bool:
    import torch

    return cuda and torch.cuda.is_bf16_supported()
