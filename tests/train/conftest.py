"""Train fixtures: a memorisation set, a tiny model whose tokenizer knows it, and one real
QLoRA training run (CPU) shared by the tests that inspect its outputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FACTS = [
    ("capital of France", "Paris"),
    ("capital of Japan", "Tokyo"),
    ("capital of Peru", "Lima"),
    ("capital of Kenya", "Nairobi"),
    ("color of the sky", "blue"),
    ("color of grass", "green"),
    ("largest planet", "Jupiter"),
    ("smallest prime", "two"),
    ("boiling point of water", "100 C"),
    ("author of Hamlet", "Shakespeare"),
    ("speed of light", "300000 km/s"),
    ("first element", "hydrogen"),
]


def chat(user: str, assistant: str, **extra: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ],
        **extra,
    }


TEST_POISON = '{"messages": "held out: training must never read this line"\n{not json\n'

MEMO = [chat(f"What is the {q}?", f"The {q} is {a}.", category="facts") for q, a in FACTS]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="package", autouse=True)
def _one_thread() -> Iterator[None]:
    """The CI box has 2 cores shared by several jobs; one torch thread avoids spin contention.
    Restored after this package so other areas' tests keep their setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def memo_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen2 demo model, tokenizer trained on the memorisation texts, with an init
    scale large enough for the loss to fall visibly in a few steps."""
    from train.demo_model import build_demo_model

    texts = [m["content"] for r in MEMO for m in r["messages"]]
    return build_demo_model(
        tmp_path_factory.mktemp("memo_model"), texts=texts, initializer_range=0.1
    )


@pytest.fixture(scope="session")
def memo_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A split folder as `curate run --val-size` writes it (extra fields such as category
    included). Its test.jsonl is unreadable on purpose: training must never open it (the
    refuse policy would stop on its bad lines), so every run on this folder proves it."""
    d = tmp_path_factory.mktemp("memo_split")
    write_jsonl(d / "train.jsonl", MEMO)
    write_jsonl(d / "val.jsonl", MEMO[:4])
    (d / "test.jsonl").write_text(TEST_POISON, encoding="utf-8")
    return d


@pytest.fixture
def fast() -> dict[str, Any]:
    """Overrides that keep a test run short: no checkpoints, no recomputation, constant lr."""
    return {
        "training.save_strategy": "no",
        "training.gradient_checkpointing": False,
        "training.gradient_accumulation_steps": 1,
        "training.lr_scheduler": "constant",
        "training.warmup_ratio": 0.0,
    }


@pytest.fixture
def memo_rows() -> list[dict[str, Any]]:
    return [json.loads(json.dumps(r)) for r in MEMO]


@pytest.fixture(scope="session")
def qlora_run(
    tmp_path_factory: pytest.TempPathFactory, memo_model_dir: Path, memo_split: Path
) -> dict[str, Any]:
    """One real QLoRA (4-bit NF4 on CPU) run through the CLI: 30 steps on the memorisation set."""
    from click.testing import CliRunner

    from curate.cli import main

    out = tmp_path_factory.mktemp("qlora_run") / "adapter"
    cfg = tmp_path_factory.mktemp("cfg") / "fast.yaml"
    cfg.write_text(
        "training:\n  save_strategy: 'no'\n  gradient_checkpointing: false\n"
        "  gradient_accumulation_steps: 1\n  lr_scheduler: constant\n  warmup_ratio: 0.0\n"
    )
    args = ["train", str(memo_split), "-o", str(out), "--model", str(memo_model_dir)]
    args += ["--config", str(cfg), "--max-steps", "30", "--lr", "1e-2", "--json", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr + repr(result.exception)
    return {"out": out, "result": result, "metrics": json.loads(result.stdout)}


@pytest.fixture(scope="session")
def merged_dir(tmp_path_factory: pytest.TempPathFactory, qlora_run: dict[str, Any]) -> Path:
    """The QLoRA-trained adapter merged into the fp32 base (it has memorised the set)."""
    from train.merge import merge_adapter

    out = tmp_path_factory.mktemp("merged") / "model"
    merge_adapter(qlora_run["out"], out, ollama=True)
    return out
