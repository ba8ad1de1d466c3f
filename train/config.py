"""Training configuration: dataclasses with the guide's defaults, a YAML file, CLI flags on top.

Precedence is default < YAML file < CLI flag. Unknown keys, wrong types and contradictions
(4-bit and 8-bit together, ``require_gpu`` without CUDA, rank <= 0, ...) raise
``ConfigError`` at load time, before any model is touched. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from curate.config import build, check_section
from curate.config import load_config as read_config
from curate.errors import ConfigError

ON_BAD_ROWS = ("refuse", "drop", "truncate")
SAVE_STRATEGIES = ("epoch", "steps", "no")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")


@dataclass
class ModelSection:
    """Which base model, how it is loaded."""

    name_or_path: str | None = None  # local folder or HF id; --model
    chat_template: str | None = None  # file, inline Jinja, or "chatml"; --chat-template
    load_in_4bit: bool = True  # QLoRA: NF4 + double quantization
    load_in_8bit: bool = False
    require_gpu: bool = False  # fail at load when no CUDA GPU is visible
    trust_remote_code: bool = False


@dataclass
class LoraSection:
    """LoRA adapter shape; alpha defaults to 2 * r (32 for the default r=16)."""

    r: int = 16
    alpha: int | None = None
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"


@dataclass
class TrainingSection:
    """Optimisation. Effective batch = batch_size * gradient_accumulation_steps (default 8)."""

    learning_rate: float = 2e-4
    epochs: float = 2.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 4
    gradient_accumulation_steps: int = 2
    max_length: int = 1024
    packing: bool = False
    # Padding-free batches: the rows of a batch are laid end to end in one sequence with
    # position_ids restarting at each row (transformers then masks attention per row), so no
    # time goes into pad tokens. Same loss as padded batches; off for models whose attention
    # ignores position_ids-based packing.
    padding_free: bool = True
    assistant_only_loss: bool = True
    # None = auto: on for models of >= 1B parameters, where activations dominate memory; off
    # below, where recomputing them only costs time (~30% per step on SmolLM2-135M).
    gradient_checkpointing: bool | None = None
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    logging_steps: int = 1
    save_strategy: str = "epoch"
    save_steps: int = 500
    save_total_limit: int = 2


@dataclass
class DataSection:
    """Pre-flight policy for rows that would train badly."""

    on_bad_rows: str = "refuse"  # refuse | drop | truncate
    min_examples: int = 100  # warn below this many training rows
    tools_as_text: bool = False  # write tool calls / tools into the text; --tools-as-text


@dataclass
class WatchSection:
    """Loss watch thresholds (see train/watch.py)."""

    spike_factor: float = 2.0  # loss > factor * running average
    flat_window: int = 30  # logged steps compared for a flatline
    flat_min_drop: float = 0.01  # relative decrease below which the window counts as flat
    stop_on_divergence: bool = False


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    lora: LoraSection = field(default_factory=LoraSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    data: DataSection = field(default_factory=DataSection)
    watch: WatchSection = field(default_factory=WatchSection)

    @property
    def lora_alpha(self) -> int:
        return self.lora.alpha if self.lora.alpha is not None else 2 * self.lora.r

    @property
    def quantization(self) -> str:
        """The requested mode: ``4bit``, ``8bit`` or ``none``."""
        if self.model.load_in_4bit:
            return "4bit"
        return "8bit" if self.model.load_in_8bit else "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# section -> its dataclass: the keys of a train config file, read by the one loader
# (``curate.config``) that reads every curate config.
SECTIONS: dict[str, type] = {f.name: f.default_factory for f in dataclasses.fields(TrainConfig)}  # type: ignore[misc]


def validate(cfg: TrainConfig, cuda_available: bool | None = None) -> TrainConfig:
    """Raise ``ConfigError`` for contradictions and out-of-range values.

    ``cuda_available`` is only needed for ``require_gpu``; None means "check with torch".
    """
    m, lo, t, d, w = cfg.model, cfg.lora, cfg.training, cfg.data, cfg.watch
    if m.load_in_4bit and m.load_in_8bit:
        raise ConfigError(
            "model.load_in_4bit and model.load_in_8bit are both true: choose one "
            "(4-bit NF4 is QLoRA; --no-quantize trains plain LoRA)"
        )
    checks = [
        (lo.r <= 0, f"lora.r must be > 0, got {lo.r}"),
        (lo.alpha is not None and lo.alpha <= 0, f"lora.alpha must be > 0, got {lo.alpha}"),
        (not 0 <= lo.dropout < 1, f"lora.dropout must be in [0, 1), got {lo.dropout}"),
        (not lo.target_modules, "lora.target_modules is empty"),
        (t.learning_rate <= 0, f"training.learning_rate must be > 0, got {t.learning_rate}"),
        (t.max_steps <= 0 and t.epochs <= 0, "training.epochs must be > 0 (or set max_steps)"),
        (t.max_steps == 0, "training.max_steps must be > 0, or -1 to train for epochs"),
        (t.batch_size < 1, f"training.batch_size must be >= 1, got {t.batch_size}"),
        (not 0 <= t.seed < 2**32, f"training.seed must be in [0, 2**32 - 1], got {t.seed}"),
        (
            t.gradient_accumulation_steps < 1,
            f"training.gradient_accumulation_steps must be >= 1, got "
            f"{t.gradient_accumulation_steps}",
        ),
        (t.max_length < 8, f"training.max_length must be >= 8, got {t.max_length}"),
        (
            not 0 <= t.warmup_ratio < 1,
            f"training.warmup_ratio must be in [0, 1), got {t.warmup_ratio}",
        ),
        (t.logging_steps < 1, f"training.logging_steps must be >= 1, got {t.logging_steps}"),
        (t.save_steps < 1, f"training.save_steps must be >= 1, got {t.save_steps}"),
        (t.save_total_limit < 1, "training.save_total_limit must be >= 1"),
        (
            t.save_strategy not in SAVE_STRATEGIES,
            f"training.save_strategy must be one of {', '.join(SAVE_STRATEGIES)}",
        ),
        (
            t.lr_scheduler not in SCHEDULERS,
            f"training.lr_scheduler must be one of {', '.join(SCHEDULERS)}",
        ),
        (
            d.on_bad_rows not in ON_BAD_ROWS,
            f"data.on_bad_rows must be one of {', '.join(ON_BAD_ROWS)}, got {d.on_bad_rows!r}",
        ),
        (w.spike_factor <= 1, f"watch.spike_factor must be > 1, got {w.spike_factor}"),
        (w.flat_window < 4, f"watch.flat_window must be >= 4, got {w.flat_window}"),
        (w.flat_min_drop < 0, "watch.flat_min_drop must be >= 0"),
    ]
    for bad, message in checks:
        if bad:
            raise ConfigError(message)
    if m.require_gpu:
        if cuda_available is None:
            import torch

            cuda_available = torch.cuda.is_available()
        if not cuda_available:
            raise ConfigError(
                "--require-gpu (model.require_gpu) is set but no CUDA GPU is visible "
                "(torch.cuda.is_available() is False)"
            )
    return cfg


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    cuda_available: bool | None = None,
) -> TrainConfig:
    """Defaults, then the YAML file, then ``overrides`` (``{"training.learning_rate": 1e-4}``;
    None values are ignored, so unset CLI options never override the file), then validation.

    File and overrides get the type and range checks of every curate config
    (``curate.config``): unknown keys with a suggestion, ``SECTION.KEY`` named on a bad value.
    """
    file = read_config(path, SECTIONS)
    nested: dict[str, dict[str, Any]] = {}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        nested.setdefault(section, {})[key] = value
    given = {name: check_section("option", SECTIONS, name, v) for name, v in nested.items()}
    cfg = TrainConfig(
        **{
            name: build(cls, {**file.get(name, {}), **given.get(name, {})}, section=name)
            for name, cls in SECTIONS.items()
        }
    )
    return validate(cfg, cuda_available)


def dump_config(cfg: TrainConfig) -> str:
    """The resolved config as YAML that ``load_config`` reads back unchanged."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=False)


EXAMPLE_CONFIG = """\
# curate train configuration. Precedence: built-in default < this file < command-line flag.
# Unknown keys are an error. Values shown are the defaults.

model:
  name_or_path: null        # local folder or Hugging Face id (or --model)
  chat_template: null       # a Jinja file, inline template, or "chatml" for models without one
  load_in_4bit: true        # QLoRA: 4-bit NF4 + double quantization (works on CPU too)
  load_in_8bit: false       # 8-bit instead (not together with load_in_4bit)
  require_gpu: false        # refuse to start without a CUDA GPU
  trust_remote_code: false

lora:
  r: 16                     # rank: 16-64 is the usual range
  alpha: null               # null means 2 * r
  dropout: 0.05
  target_modules: all-linear  # or a list, e.g. [q_proj, v_proj]

training:
  learning_rate: 2.0e-4     # spikes: lower it; flat loss: raise it
  epochs: 2.0               # 1-3 for most data sets
  max_steps: -1             # > 0 stops after this many optimizer steps (overrides epochs)
  batch_size: 4             # per device
  gradient_accumulation_steps: 2   # effective batch = batch_size * this (4-16 is typical)
  max_length: 1024          # tokens; longer rows are reported by pre-flight
  packing: false
  padding_free: true        # one sequence per batch, no pad tokens (same loss as padding)
  assistant_only_loss: true # loss on assistant tokens only
  gradient_checkpointing: null   # null = auto: on for models of 1B+ parameters, else off
  lr_scheduler: cosine      # cosine | linear | constant | constant_with_warmup
  warmup_ratio: 0.03
  weight_decay: 0.0
  max_grad_norm: 1.0
  seed: 0
  logging_steps: 1
  save_strategy: epoch      # epoch | steps | no
  save_steps: 500           # used when save_strategy is steps
  save_total_limit: 2

data:
  on_bad_rows: refuse       # refuse (exit 1) | drop | truncate (keep cut rows that still train)
  min_examples: 100         # warn below this many training rows
  tools_as_text: false      # tool calls / tools written into the text (templates that ignore them)

watch:
  spike_factor: 2.0         # a loss above factor * running average is a spike
  flat_window: 30           # logged steps compared for a flatline (said once per run)
  flat_min_drop: 0.01       # relative decrease below which the loss counts as flat
  stop_on_divergence: false # stop training on a spike or a non-finite loss
"""
