"""Merge (logits equal the adapter model's, reload + generate, Ollama Modelfile), the 4-bit CPU
gradient guard, the demo-model command, and the CUDA-only figures."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModelForCausalLM, AutoTokenizer

from curate.cli import main
from train.config import load_config
from train.masking import ChatEncoder
from train.model import disable_cpu_bf16_repack, load_base, quiet_peft_deprecations


def _batch(model_dir: Path) -> torch.Tensor:
    tok = AutoTokenizer.from_pretrained(model_dir)
    msgs = [{"role": "user", "content": "What is the capital of Peru?"}]
    msgs.append({"role": "assistant", "content": "The capital of Peru is Lima."})
    return torch.tensor([ChatEncoder(tok).encode({"messages": msgs}).input_ids])


def test_merged_logits_equal_the_adapter_models(
    qlora_run: dict[str, Any], merged_dir: Path, memo_model_dir: Path
) -> None:
    from peft import PeftModel

    x = _batch(memo_model_dir)
    base = AutoModelForCausalLM.from_pretrained(memo_model_dir, dtype=torch.float32)
    with torch.no_grad():
        base_logits = base(input_ids=x).logits
    with quiet_peft_deprecations():
        adapted = PeftModel.from_pretrained(base, qlora_run["out"]).eval()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    with torch.no_grad():
        a, m = adapted(input_ids=x).logits, merged(input_ids=x).logits
    assert torch.allclose(a, m, atol=1e-4, rtol=1e-4)
    assert (m - base_logits).abs().max() > 0.1  # the adapter really changed the model
    assert merged.dtype == torch.float32  # merged into a reloaded full-precision base


def test_merged_folder_reloads_and_generates(merged_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(merged_dir)
    model = AutoModelForCausalLM.from_pretrained(merged_dir)
    assert "{% generation %}" in tok.chat_template
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of Peru?"}],
        add_generation_prompt=True,
        return_dict=True,
        return_tensors="pt",
    )
    out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]
    assert not any(p.name.startswith("adapter_") for p in merged_dir.iterdir())
    modelfile = (merged_dir / "Modelfile").read_text()
    assert "FROM ." in modelfile and "<|im_start|>{{ .Role }}" in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile


def test_cli_merge(tmp_path: Path, qlora_run: dict[str, Any]) -> None:
    out = tmp_path / "merged"
    result = CliRunner().invoke(main, ["merge", str(qlora_run["out"]), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dtype"] == "float32" and "model.safetensors" in summary["files"]
    bad = CliRunner().invoke(main, ["merge", str(tmp_path), "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "no adapter_config.json" in bad.stderr
    # Weights are readable by a serving user, like every other file (not 0600).
    assert (out / "model.safetensors").stat().st_mode & 0o044 == 0o044
    assert (qlora_run["out"] / "adapter_model.safetensors").stat().st_mode & 0o044 == 0o044
    # A non-empty folder (the adapter's own included) is never merged into silently.
    again = CliRunner().invoke(main, ["merge", str(qlora_run["out"]), "-o", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    into = CliRunner().invoke(
        main, ["merge", str(qlora_run["out"]), "-o", str(qlora_run["out"]), "--overwrite"]
    )
    assert into.exit_code == 2 and "is the adapter folder" in into.stderr
    assert (qlora_run["out"] / "adapter_config.json").exists()


def _lora_grads(model: Any, lora: Any, x: torch.Tensor, seed: int = 1) -> dict[str, torch.Tensor]:
    from peft import get_peft_model

    with quiet_peft_deprecations():
        torch.manual_seed(0)
        pm = get_peft_model(model, copy.deepcopy(lora))
    gen = torch.Generator().manual_seed(seed)
    params = {k: p for k, p in pm.named_parameters() if "lora_" in k}
    with torch.no_grad():  # non-zero B so every LoRA matrix gets a gradient
        for p in params.values():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    pm.train()
    pm(input_ids=x, labels=x).loss.backward()
    return {k: p.grad.detach().clone() for k, p in params.items()}


def test_4bit_lora_gradients_match_a_dequantized_reference(memo_model_dir: Path) -> None:
    """Guards the bitsandbytes CPU repacking bug: an eval-mode forward first, then the LoRA
    gradients of the 4-bit model must equal those of an fp32 copy with the same weights."""
    import bitsandbytes as bnb
    from peft import LoraConfig, prepare_model_for_kbit_training

    cfg = load_config(None, {"model.name_or_path": str(memo_model_dir)})
    q, mode, notes, patched = load_base(cfg, cuda=False)
    assert mode == "qlora-4bit-nf4" and notes == [] and patched == 14
    layers = {n: m for n, m in q.named_modules() if isinstance(m, bnb.nn.Linear4bit)}
    assert all(m.support_avx512bf16_for_cpu is False for m in layers.values())
    ref = AutoModelForCausalLM.from_pretrained(memo_model_dir, dtype=torch.float32)
    for name, module in ref.named_modules():
        if name in layers:
            w = layers[name].weight
            module.weight.data.copy_(bnb.functional.dequantize_4bit(w.data, w.quant_state))
    x = _batch(memo_model_dir)
    q.eval()
    with torch.no_grad():  # the forward that used to trigger the repack
        assert torch.allclose(q(input_ids=x).logits, ref(input_ids=x).logits, atol=1e-5)
    with quiet_peft_deprecations():
        q = prepare_model_for_kbit_training(q, use_gradient_checkpointing=False)
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear")
    got, want = _lora_grads(q, lora, x), _lora_grads(ref, lora, x)
    assert got.keys() == want.keys() and len(got) == 28
    for k in want:
        assert want[k].abs().max() > 0, k
        assert torch.allclose(got[k], want[k], rtol=1e-4, atol=1e-6), k
    assert disable_cpu_bf16_repack(q) == 14  # idempotent on a wrapped model


def test_cli_demo_model(tmp_path: Path, memo_split: Path) -> None:
    out = tmp_path / "demo"
    args = ["demo-model", str(out), "--from-data", str(memo_split)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    assert "toy" in result.stderr
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template and "Nairobi" in tok.decode(tok("Nairobi")["input_ids"])
    assert AutoModelForCausalLM.from_pretrained(out).num_parameters() < 200_000
    before = (out / "tokenizer.json").read_bytes()
    again = CliRunner().invoke(main, ["demo-model", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert (out / "tokenizer.json").read_bytes() == before


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_qlora_bf16_compute_and_throughput(
    tmp_path: Path, memo_model_dir: Path, memo_split: Path, fast: dict[str, Any]
) -> None:
    from train.builders import get_quantization_config
    from train.run import train_model

    cfg = load_config(
        None,
        {
            **fast,
            "model.name_or_path": str(memo_model_dir),
            "training.max_steps": 20,
            "model.require_gpu": True,
            "training.learning_rate": 1e-2,
        },
    )
    q = get_quantization_config(cfg, cuda=True)
    assert q.bnb_4bit_compute_dtype == torch.bfloat16
    m = train_model(memo_split, tmp_path / "out", cfg, progress=False)
    assert m["device"] == "cuda" and m["quantization"] == "qlora-4bit-nf4"
    assert m["tokens_per_second"] > 0 and m["peak_cuda_bytes"] > 0
    print(f"cuda tokens/s {m['tokens_per_second']}, peak {m['peak_cuda_bytes']} B")  # noqa: T201


def test_merged_folder_generates_the_same_greedy_tokens(
    qlora_run: dict[str, Any], merged_dir: Path, memo_model_dir: Path
) -> None:
    from peft import PeftModel

    tok = AutoTokenizer.from_pretrained(merged_dir)
    base = AutoModelForCausalLM.from_pretrained(memo_model_dir, dtype=torch.float32)
    with quiet_peft_deprecations():
        adapted = PeftModel.from_pretrained(base, qlora_run["out"]).eval()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    changed = 0
    for q in ("capital of Peru", "largest planet", "author of Hamlet", "color of grass"):
        enc = tok.apply_chat_template(
            [{"role": "user", "content": f"What is the {q}?"}],
            add_generation_prompt=True,
            return_dict=True,
            return_tensors="pt",
        )
        kw = {"max_new_tokens": 12, "do_sample": False, "pad_token_id": tok.pad_token_id}
        with torch.no_grad():
            x = adapted.generate(**enc, **kw)[0].tolist()
            y = merged.generate(**enc, **kw)[0].tolist()
            with adapted.disable_adapter():
                z = adapted.generate(**enc, **kw)[0].tolist()
        assert x == y, q
        changed += x != z
    assert changed  # the adapter changes what is generated: the equality is not vacuous


def test_vllm_ready_folder_and_modelfile_from_the_tokenizer(merged_dir: Path) -> None:
    from train.merge import default_system_prompt, ollama_modelfile, stop_tokens

    names = {p.name for p in merged_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= (
        names
    )
    gen = json.loads((merged_dir / "generation_config.json").read_text())
    tok = AutoTokenizer.from_pretrained(merged_dir)
    eos = gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]]
    assert tok.convert_tokens_to_ids("<|im_end|>") in eos
    # SmolLM2-style ChatML template that inserts its own system turn: carried over as SYSTEM
    tok.chat_template = (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM<|im_end|>\n' }}"
        "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
        "'<|im_end|>' + '\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    assert default_system_prompt(tok) == "You are a helpful AI assistant named SmolLM"
    text, converted = ollama_modelfile(tok.chat_template, tok.eos_token, tok)
    assert converted and 'SYSTEM """You are a helpful AI assistant named SmolLM"""' in text
    assert stop_tokens(tok)[0] == "<|im_end|>"
    assert 'PARAMETER stop "<|im_end|>"' in text and 'PARAMETER stop "<|im_start|>"' in text
    assert text.count('PARAMETER stop "<|im_end|>"') == 1
