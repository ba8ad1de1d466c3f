"""The ``merge:`` and ``demo_model:`` sections of a curate config (``curate merge`` and
``curate demo-model``'s options); their flags are made from these fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(slots=True)
class MergeOptions:
    """The ``merge:`` section.

    Attributes:
        base: base model (default: the one recorded in the adapter); also a .gguf or package
            name.
        dtype: precision of the reloaded base (auto: the base's own; never 4-bit).
        ollama: also write a Modelfile for ``ollama create``.
    """

    base: str | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    ollama: bool = False


@dataclass(slots=True)
class DemoModelOptions:
    """The ``demo_model:`` section.

    Attributes:
        from_data: train the tokenizer on this data's text (better token counts on it).
        seed: seeds the random weights and the tokenizer sample.
        init_range: std of the random weights (large enough for the loss to fall visibly).
    """

    from_data: str | None = None
    seed: int = 0
    init_range: float = 0.1
