"""Fixtures for the evaluation tests: a small labelled test set, the tiny base model with a
LoRA adapter trained for real steps, its merged form, and a real loopback HTTP server that
speaks the OpenAI chat completions API (scriptable failures and answers, no client mocks).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.evaluate.eval_helpers import QA, ChatServer, chat_record, write_records


@pytest.fixture(scope="session")
def eval_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A split folder whose test.jsonl holds the QA records (what `curate split` writes)."""
    folder = tmp_path_factory.mktemp("split")
    write_records(folder / "test.jsonl", [chat_record(i, *row) for i, row in enumerate(QA)])
    return folder


@pytest.fixture(scope="session")
def adapter_dir(tiny_model_dir: Path, eval_split: Path, tmp_path_factory) -> Path:
    """A LoRA adapter on the tiny model, trained for 100 real AdamW steps on the QA records.

    The random tiny model's embeddings are small, so LoRA alone cannot sharpen its output
    distribution; the norms are trained too (``modules_to_save``), which is what lets a few
    steps memorise the answers.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("adapter")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(
        r=16,
        lora_alpha=32,
        target_modules="all-linear",
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
        modules_to_save=["norm"],
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")  # peft 0.21
        peft_model = get_peft_model(model, config)
    torch.manual_seed(0)
    params = [(n, p) for n, p in peft_model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [
            {"params": [p for n, p in params if "norm" not in n], "lr": 5e-3},
            {"params": [p for n, p in params if "norm" in n], "lr": 5e-2},
        ],
        weight_decay=0.0,
    )
    rows = []
    for q, a, _ in QA:
        prompt = tok.apply_chat_template(
            [{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
        )
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        ids = tok(prompt + a + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
        rows.append((ids, [-100] * len(p_ids) + ids[len(p_ids) :]))
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.tensor([ids + [tok.pad_token_id] * (width - len(ids)) for ids, _ in rows])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])
    mask = (input_ids != tok.pad_token_id).long()
    peft_model.train()
    losses = []
    # One thread: a model this small gains nothing from more, and on a shared 2-core machine
    # a second thread mostly waits (measured: 100 steps 1 s with one thread, 40 s with two).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(100):
            loss = peft_model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    assert losses[-1] < losses[0] / 3, losses[::10]  # it really learned
    peft_model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def merged_dir(tiny_model_dir: Path, adapter_dir: Path, tmp_path_factory) -> Path:
    """The adapter merged into the base weights (what `curate merge` writes)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("merged")
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")  # peft 0.21
        merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out)
    return out


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
