"""Merge a trained LoRA adapter into its base model and export it.

The base is always reloaded in 16/32-bit, never merged into the 4-bit weights: merging into
quantized weights would round the adapter's update away. The output is a plain transformers
folder (config, safetensors, tokenizer + chat template, generation_config.json with every
stop token) that transformers and vLLM load unchanged;
``ollama=True`` adds a Modelfile for ``ollama create``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from curate.errors import ConfigError, InputError
from curate.outdir import atomic_directory, check_target
from train.model import quiet_libraries, quiet_peft_deprecations

DTYPES = ("auto", "float32", "bfloat16", "float16")

# ChatML in Ollama's Go template language (the form Ollama's own Qwen/ChatML models use).
OLLAMA_CHATML = """{{- if .Messages }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ if and $last (ne .Role "assistant") }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""


def base_model_of(adapter_dir: Path) -> str:
    cfg_path = adapter_dir / "adapter_config.json"
    if not cfg_path.is_file():
        raise InputError(f"{adapter_dir}: no adapter_config.json (not a `curate train` output?)")
    try:
        base = json.loads(cfg_path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{cfg_path}: cannot read: {exc}") from exc
    if not base:
        raise InputError(f"{cfg_path}: no base_model_name_or_path; pass --base")
    return str(base)


def _dtype(name: str, base: str) -> Any:
    import torch

    if name not in DTYPES:
        raise ConfigError(f"--dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    if name == "auto":
        # The base's own dtype: 16-bit for real checkpoints, never the 4-bit training form.
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(base)
        found = getattr(cfg, "dtype", None) or getattr(cfg, "torch_dtype", None)
        if isinstance(found, str):
            found = getattr(torch, found, None)
        return found if found in (torch.float32, torch.bfloat16, torch.float16) else torch.float32
    return getattr(torch, name)


# End-of-turn markers of the common chat formats; those the tokenizer knows become stop tokens.
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<|endoftext|>", "</s>", "<end_of_turn>")


def stop_tokens(tokenizer: Any) -> list[str]:
    """The tokenizer's end-of-sequence token plus every end-of-turn marker it has, in order."""
    found: list[str] = []
    vocab = tokenizer.get_vocab()
    for tok in (tokenizer.eos_token, *END_OF_TURN):
        if tok and tok in vocab and tok not in found:
            found.append(tok)
    return found


def default_system_prompt(tokenizer: Any) -> str | None:
    """The system turn a ChatML template inserts when the conversation has none (SmolLM2's
    does): rendered once, so the Modelfile can say it explicitly with SYSTEM."""
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=False
        )
    except (ValueError, TypeError, KeyError):
        return None
    head = "<|im_start|>system\n"
    if not text.startswith(head) or "<|im_end|>" not in text:
        return None
    return text[len(head) : text.index("<|im_end|>")]


def ollama_modelfile(
    chat_template: str | None, eos_token: str | None, tokenizer: Any = None
) -> tuple[str, bool]:
    """A Modelfile for the merged folder; returns (text, template_converted).

    With ``tokenizer``, the stop tokens are every end-of-turn marker it knows and a default
    system prompt its template inserts is carried over as SYSTEM.
    """
    lines = [
        "# Ollama Modelfile written by `curate merge`.",
        "# ollama create NAME -f Modelfile",
        "FROM .",
    ]
    stops = stop_tokens(tokenizer) if tokenizer is not None else []
    chatml = bool(chat_template) and "<|im_start|>" in chat_template
    if chatml:
        lines.append(f'TEMPLATE """{OLLAMA_CHATML}"""')
        system = default_system_prompt(tokenizer) if tokenizer is not None else None
        if system:
            lines.append(f'SYSTEM """{system}"""')
        stops = stops or ["<|im_end|>"]
        if "<|im_start|>" not in stops:
            stops.append("<|im_start|>")
    else:
        lines.append(
            "# The chat template is not ChatML and was not converted to Ollama's Go template "
            "form; add a TEMPLATE block that matches tokenizer_config.json / chat_template.jinja."
        )
        if not stops and eos_token:
            stops = [eos_token]
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    return "\n".join(lines) + "\n", chatml


def _generation_config(merged: Any, tokenizer: Any) -> None:
    """Make generation_config.json say when to stop (vLLM and transformers read it)."""
    gen = merged.generation_config
    ids = gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id]
    ids = [i for i in ids if i is not None]
    for tok in stop_tokens(tokenizer):
        tid = tokenizer.convert_tokens_to_ids(tok)
        if tid is not None and tid not in ids:
            ids.append(tid)
    if ids:
        gen.eos_token_id = ids[0] if len(ids) == 1 else ids
    if gen.pad_token_id is None:
        gen.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ids[0]


def merge_adapter(
    adapter_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    base: str | None = None,
    dtype: str = "auto",
    ollama: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Reload the base in 16/32-bit, apply the adapter, merge_and_unload, save.

    The output folder is built beside ``out_dir`` and swapped in whole: a non-empty
    ``out_dir`` (the adapter's own folder included) is refused unless ``overwrite``.

    Returns a summary (base, dtype, files, whether the Ollama template was converted).
    """
    quiet_libraries()  # before peft, which imports bitsandbytes
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = Path(adapter_dir)
    if not adapter.is_dir():
        raise InputError(f"{adapter_dir}: no such directory")
    if Path(out_dir).resolve() == adapter.resolve():
        raise InputError(f"{out_dir}: is the adapter folder; merge into another folder")
    check_target(Path(out_dir), overwrite)  # before the slow model load
    from curate.models.resolve import resolve_model

    base = resolve_model(base or base_model_of(adapter))
    torch_dtype = _dtype(dtype, base)
    try:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise InputError(f"base model {base}: cannot load: {str(exc).splitlines()[0]}") from exc
    tokenizer = AutoTokenizer.from_pretrained(adapter)  # carries the chat template trained with
    with quiet_peft_deprecations():
        merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    out = Path(out_dir)
    _generation_config(merged, tokenizer)
    with atomic_directory(out, overwrite) as staging:
        merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if ollama:
            text, converted = ollama_modelfile(
                tokenizer.chat_template, tokenizer.eos_token, tokenizer
            )
            (staging / "Modelfile").write_text(text, encoding="utf-8")
    summary: dict[str, Any] = {
        "base": base,
        "adapter": str(adapter),
        "dtype": str(torch_dtype).removeprefix("torch."),
        "output": str(out),
    }
    if ollama:
        summary["modelfile"] = str(out / "Modelfile")
        summary["ollama_template_converted"] = converted
    summary["files"] = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    return summary
