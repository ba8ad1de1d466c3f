"""Responses from the base and the fine-tuned model, for each example's prompt turns.

A side is either a local Hugging Face model (a folder or hub id, optionally with a PEFT adapter
on top, or a merged folder) or an OpenAI-compatible endpoint. Decoding is greedy by default
(deterministic), batched with left padding. Each side has a ``fingerprint`` (model identity +
decoding settings) that keys its saved responses (see ``pairs.py``, ``generations.jsonl``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from curate.errors import ConfigError, InputError
from curate.evaluate.client import ChatClient
from curate.models.loading import model_load_error

Messages = list[dict[str, Any]]
Progress = Callable[[str, int, int], None]
"""``progress(label, advance, total)``: called as responses come in (the CLI draws a bar)."""


@dataclass(frozen=True)
class DecodeSettings:
    """How responses are decoded. ``temperature == 0`` means greedy (deterministic)."""

    max_new_tokens: int = 256
    batch_size: int = 8
    temperature: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ConfigError("--max-new-tokens and --batch-size must be >= 1")
        if self.temperature < 0:
            raise ConfigError("--temperature must be >= 0")


class Generator(Protocol):
    """One side of the comparison."""

    label: str

    def fingerprint(self) -> str:
        """Identity of the model + decoding settings; a change invalidates saved generations."""

    def generate(self, prompts: Sequence[Messages], progress: Progress | None = None) -> list[str]:
        """One response per prompt, in order."""


def with_system_prompt(prompt: Sequence[Mapping[str, Any]], system: str | None) -> Messages:
    """The prompt with ``system`` as its system turn (replacing the record's own, if any)."""
    msgs = [dict(m) for m in prompt]
    if system is None:
        return msgs
    if msgs and msgs[0].get("role") == "system":
        msgs[0] = {"role": "system", "content": system}
        return msgs
    return [{"role": "system", "content": system}, *msgs]


def _path_identity(path: str) -> str:
    """A local folder's path plus size/mtime of its weight files; a hub id stays as it is."""
    p = Path(path)
    if not p.is_dir():
        return path
    parts = [str(p.resolve())]
    for f in sorted(p.iterdir()):
        if f.suffix in {".safetensors", ".bin", ".json"} and f.is_file():
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


# -- local Hugging Face models -------------------------------------------------------------


class ModelCache:
    """Loads each model once per run and shares a base between its plain and adapter sides.

    With an adapter, the base is loaded once, wrapped by the adapter, and the base side
    generates with the adapter disabled (``disable_adapter()``): one copy of the weights.
    """

    def __init__(self, device: str | None = None) -> None:
        self.device = device
        self._models: dict[tuple[str, str | None], Any] = {}
        self._tokenizers: dict[str, Any] = {}

    def _device(self) -> str:
        if self.device:
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def tokenizer(self, path: str) -> Any:
        if path not in self._tokenizers:
            from transformers import AutoTokenizer

            try:
                tok = AutoTokenizer.from_pretrained(path)
            except (OSError, ValueError) as exc:
                raise model_load_error(path, "a tokenizer", exc) from exc
            if not tok.chat_template:
                raise ConfigError(f"{path}: tokenizer has no chat template; cannot build prompts")
            tok.padding_side = "left"
            if tok.pad_token_id is None:
                tok.pad_token = tok.eos_token
            self._tokenizers[path] = tok
        return self._tokenizers[path]

    def model(self, path: str, adapter: str | None = None) -> Any:
        """The model at ``path``; with ``adapter``, the shared base wrapped by it."""
        key = (path, adapter)
        if key in self._models:
            return self._models[key]
        import torch
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter stderr
        device = self._device()
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        try:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
        except (OSError, ValueError) as exc:
            raise model_load_error(path, "a causal LM", exc) from exc
        if adapter is not None:
            from peft import PeftModel

            try:
                with warnings.catch_warnings():
                    # peft 0.21 calls transformers' deprecated is_gradient_checkpointing; noise
                    # for the user (nothing they can change), and an error under pytest.
                    warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
                    model = PeftModel.from_pretrained(model, adapter)
            except (OSError, ValueError) as exc:
                raise model_load_error(adapter, "the PEFT adapter", exc) from exc
            # The plain base side reuses these weights with the adapter switched off.
            self._models[(path, None)] = model
        model.eval()
        self._models[key] = model
        return model


@dataclass
class LocalGenerator:
    """A local model folder / hub id, optionally with a PEFT adapter.

    ``adapter_off=True`` generates from the base weights of an adapter-wrapped model.
    """

    label: str
    path: str
    cache: ModelCache
    settings: DecodeSettings = field(default_factory=DecodeSettings)
    adapter: str | None = None
    tokenizer_path: str | None = None
    adapter_off: bool = False
    shares_adapter: str | None = None

    def fingerprint(self) -> str:
        s = self.settings
        parts = [
            "local",
            _path_identity(self.path),
            f"adapter={self.adapter and _path_identity(self.adapter)}",
        ]
        parts.append(f"max_new={s.max_new_tokens} temp={s.temperature} seed={s.seed}")
        return "\n".join(parts)

    def _model(self) -> Any:
        if self.adapter_off and self.shares_adapter:
            self.cache.model(self.path, self.shares_adapter)
            return self.cache.model(self.path, None)
        return self.cache.model(self.path, self.adapter)

    def generate(self, prompts: Sequence[Messages], progress: Progress | None = None) -> list[str]:
        if not prompts:
            return []
        import torch

        model = self._model()
        tok = self.cache.tokenizer(self.tokenizer_path or self.adapter or self.path)
        s = self.settings
        texts = [
            tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts
        ]
        # Longest first, so each batch pads little; results go back to input order.
        order = sorted(range(len(texts)), key=lambda i: (-len(texts[i]), i))
        out: list[str] = [""] * len(texts)
        eos = _eos_ids(tok.eos_token_id, model.generation_config.eos_token_id)
        sampling: dict[str, Any] = {
            "do_sample": False,
            "temperature": None,
            "top_p": None,
            "top_k": None,
        }
        if s.temperature > 0:
            sampling = {"do_sample": True, "temperature": s.temperature}
        device = next(model.parameters()).device
        for start in range(0, len(order), s.batch_size):
            idx = order[start : start + s.batch_size]
            enc = tok(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            )
            enc = {k: v.to(device) for k, v in enc.items()}
            if s.temperature > 0:
                torch.manual_seed(s.seed + start)
            with torch.no_grad(), self._adapter_state(model):
                gen = model.generate(
                    **enc,
                    max_new_tokens=s.max_new_tokens,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=eos or None,
                    **sampling,
                )
            new = gen[:, enc["input_ids"].shape[1] :]
            for i, text in zip(idx, tok.batch_decode(new, skip_special_tokens=True), strict=True):
                out[i] = text.strip()
            if progress:
                progress(self.label, len(idx), len(texts))
        return out

    @contextlib.contextmanager
    def _adapter_state(self, model: Any) -> Iterator[None]:
        if self.adapter_off and hasattr(model, "disable_adapter"):
            with model.disable_adapter():
                yield
        else:
            yield


def _eos_ids(*values: Any) -> list[int]:
    """End-of-turn ids from the tokenizer and the generation config (an int or a list each)."""
    out: list[int] = []
    for value in values:
        for t in value if isinstance(value, list | tuple) else [value]:
            if isinstance(t, int) and t not in out:
                out.append(t)
    return out


# -- OpenAI-compatible endpoints -----------------------------------------------------------


@dataclass
class EndpointGenerator:
    """A side served by an OpenAI-compatible chat completions endpoint."""

    label: str
    client: ChatClient
    settings: DecodeSettings = field(default_factory=DecodeSettings)
    concurrency: int = 1

    def fingerprint(self) -> str:
        s = self.settings
        return (
            f"endpoint\n{self.client.base_url}\nmodel={self.client.model}\n"
            f"max_new={s.max_new_tokens} temp={s.temperature} seed={s.seed}"
        )

    def generate(self, prompts: Sequence[Messages], progress: Progress | None = None) -> list[str]:
        def one(prompt: Messages) -> str:
            s = self.settings
            return self.client.complete(
                prompt, temperature=s.temperature, max_tokens=s.max_new_tokens
            ).strip()

        out = []
        # Requests in parallel, answers in input order (the pool's map keeps it).
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            for text in pool.map(one, prompts):
                out.append(text)
                if progress:
                    progress(self.label, 1, len(prompts))
        return out


# -- factory -------------------------------------------------------------------------------


def make_generator(
    label: str,
    *,
    path: str | None = None,
    adapter: str | None = None,
    url: str | None = None,
    model_name: str | None = None,
    api_key: str | None = None,
    settings: DecodeSettings | None = None,
    cache: ModelCache | None = None,
    adapter_off: bool = False,
    client_options: Mapping[str, Any] | None = None,
    concurrency: int = 1,
) -> Generator:
    """One side: an endpoint when ``url`` is set, else a local model (+ adapter).

    ``adapter_off=True`` with an ``adapter`` is the base side of an adapter comparison: the same
    loaded weights with the adapter disabled.
    """
    settings = settings or DecodeSettings()
    if url:
        name = model_name or path
        if not name:
            raise ConfigError(f"{label}: an endpoint needs a model name (--{label}-model-name)")
        client = ChatClient(url, name, api_key=api_key, **dict(client_options or {}))
        return EndpointGenerator(label, client, settings, concurrency)
    if not path:
        raise ConfigError(f"{label}: no model given")
    if adapter is not None and not (Path(adapter) / "adapter_config.json").exists():
        raise InputError(
            f"{adapter}: not a PEFT adapter folder (no adapter_config.json); "
            "use --tuned for a merged model folder"
        )
    cache = cache or ModelCache()
    if adapter_off:
        return LocalGenerator(
            label,
            path,
            cache,
            settings,
            tokenizer_path=path,
            adapter_off=True,
            shares_adapter=adapter,
        )
    tok_path = adapter if adapter and _has_tokenizer(adapter) else path
    return LocalGenerator(label, path, cache, settings, adapter=adapter, tokenizer_path=tok_path)


def _has_tokenizer(folder: str) -> bool:
    return any((Path(folder) / n).exists() for n in ("tokenizer.json", "tokenizer_config.json"))
