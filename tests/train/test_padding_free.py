"""Padding-free batches and the compact LM head: same masks, same loss, no attention across rows.

All on the tiny real Qwen2 model; the batches come from the collator of the SFTTrainer that
curate's own settings build (``get_sft_config``), not from a hand-made one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from train.config import load_config
from train.run import compact_lm_head, train_model

torch = pytest.importorskip("torch")


def _trainer(model_dir: Path, out: Path, rows: list[dict[str, Any]], **over: Any) -> Any:
    """Tokenizer, encoded rows and the SFTTrainer as ``train._fit`` sets it up."""
    from trl import SFTTrainer

    from train.builders import get_sft_config
    from train.masking import ChatEncoder
    from train.model import load_model, load_tokenizer
    from train.run import _dataset

    cfg = load_config(
        None,
        {
            "model.name_or_path": str(model_dir),
            "model.load_in_4bit": False,
            "lora.dropout": 0.0,  # deterministic forwards: the comparisons are exact
            "training.gradient_checkpointing": False,
            **over,
        },
    )
    tok = load_tokenizer(cfg)
    encoded = [ChatEncoder(tok, True, cfg.training.max_length).encode(r) for r in rows]
    loaded = load_model(cfg, cuda=False)
    args = get_sft_config(cfg, out, cuda=False, has_eval=False)
    trainer = SFTTrainer(
        model=loaded.model, args=args, train_dataset=_dataset(encoded), processing_class=tok
    )
    return trainer, encoded


def test_padding_free_batch_keeps_each_rows_mask_and_attention(
    memo_model_dir: Path, memo_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    rows = [memo_rows[0], memo_rows[5], memo_rows[9]]
    trainer, encoded = _trainer(memo_model_dir, tmp_path, rows)
    assert len({len(e.input_ids) for e in encoded}) > 1  # unequal rows: padding would be needed
    features = [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]
    batch = trainer.data_collator(features)
    # One sequence, no pad token, no attention mask: the rows end to end.
    assert batch["input_ids"].shape == (1, sum(len(e.input_ids) for e in encoded))
    assert "attention_mask" not in batch
    # The assistant-only mask of the packed batch is the rows' own masks, concatenated.
    assert batch["labels"][0].tolist() == [x for e in encoded for x in e.labels]
    assert batch["position_ids"][0].tolist() == [
        i for e in encoded for i in range(len(e.input_ids))
    ]
    model = trainer.model.eval()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        packed = model(**inputs).logits[0]
        alone = torch.cat([model(input_ids=torch.tensor([e.input_ids])).logits[0] for e in encoded])
        # The same tokens as one plain sequence: later rows attend to earlier ones.
        leaky = model(input_ids=batch["input_ids"]).logits[0]
    assert torch.allclose(packed, alone, atol=1e-5)
    assert not torch.allclose(leaky, alone, atol=1e-3)  # so the check above can fail


def test_padding_free_and_compact_head_give_the_padded_loss_and_gradients(
    memo_model_dir: Path, memo_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    rows = memo_rows[:4]

    def loss_and_grads(padding_free: bool, compact: bool) -> tuple[float, list[Any]]:
        trainer, encoded = _trainer(
            memo_model_dir,
            tmp_path / f"{padding_free}{compact}",
            rows,
            **{"training.padding_free": padding_free},
        )
        model = trainer.model.train()
        batch = trainer.data_collator(
            [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]
        )
        with compact_lm_head() as on:
            if not compact:
                import trl.trainer.utils as trl_utils

                trl_utils._use_triton, saved = (lambda d: False), trl_utils._use_triton
            try:
                assert on
                loss = trainer.compute_loss(model, dict(batch))
            finally:
                if not compact:
                    trl_utils._use_triton = saved
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters() if p.requires_grad]

    ref_loss, ref_grads = loss_and_grads(padding_free=False, compact=False)
    for padding_free, compact in ((True, False), (False, True), (True, True)):
        loss, grads = loss_and_grads(padding_free, compact)
        assert loss == pytest.approx(ref_loss, rel=1e-5)
        for g, r in zip(grads, ref_grads, strict=True):
            assert torch.allclose(g, r, atol=1e-6, rtol=1e-4)


def test_compact_head_switch_is_restored() -> None:
    import trl.trainer.utils as trl_utils

    before = trl_utils._use_triton
    cpu = torch.device("cpu")
    with compact_lm_head() as on:
        assert on and trl_utils._use_triton(cpu) is True
    assert trl_utils._use_triton is before and before(cpu) is False


def test_padding_free_run_trains_like_a_padded_one(
    memo_model_dir: Path, memo_split: Path, tmp_path: Path, fast: dict[str, Any]
) -> None:
    """A real tiny model, real steps, both ways: the loss curves agree step by step."""
    curves = {}
    for padding_free in (False, True):
        cfg = load_config(
            None,
            {
                **fast,
                "model.name_or_path": str(memo_model_dir),
                "model.load_in_4bit": False,
                "lora.dropout": 0.0,
                "training.padding_free": padding_free,
                "training.max_steps": 8,
                "training.batch_size": 4,
                "training.learning_rate": 1e-2,
            },
        )
        m = train_model(
            memo_split, tmp_path / str(padding_free), cfg, progress=False, log=lambda _: None
        )
        assert m["batching"] == ("padding_free" if padding_free else "padded")
        curves[padding_free] = [h["loss"] for h in m["loss_history"]]
    assert len(curves[True]) == 8
    assert curves[True] == pytest.approx(curves[False], rel=1e-3)
    assert curves[True][-1] < 0.7 * curves[True][0]
