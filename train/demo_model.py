"""A tiny, randomly initialised causal LM with a real tokenizer and chat template, built locally.

This is a toy for trying the whole chain (curate -> train -> merge -> eval) on a laptop with
no download, and for tests. It is never a useful model: ~100k parameters, random weights.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]

# ChatML, with {% generation %} markers around assistant content + end-of-turn token so that
# TRL's assistant_only_loss can mask everything else.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] if message['content'] is string else '' }}"
    "{{ '<|im_end|>\n' }}{% endgeneration %}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{{ message['content'] if message['content'] is string else '' }}{{ '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

DEFAULT_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Translate the sentence into French. Le renard brun saute par-dessus le chien.",
    "Summarise: the meeting moved to Tuesday at 10am in room 4.",
    "Write a haiku about autumn leaves falling on a quiet river.",
    "What is 12 times 7? 12 times 7 is 84.",
    "def add(a, b):\n    return a + b\n",
    '{"name": "Ada", "role": "engineer", "skills": ["python", "sql"]}',
    "Bonjour, comment allez-vous ? Je vais bien, merci.",
    "Hola, ¿qué tal? Muy bien, gracias.",
    "Guten Tag! Wie geht es Ihnen heute?",
    "user assistant system tool",
]


def build_tokenizer(texts: Iterable[str] | None = None, vocab_size: int = 512):  # noqa: ANN201
    """A byte-level BPE tokenizer trained on ``texts``, wrapped as a fast HF tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = list(texts) if texts is not None else []
    tok.train_from_iterator(corpus + DEFAULT_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_demo_model(
    out_dir: str | os.PathLike[str],
    texts: Iterable[str] | None = None,
    seed: int = 0,
    hidden_size: int = 64,
    layers: int = 2,
    initializer_range: float = 0.02,
) -> Path:
    """Write a tiny Qwen2-architecture causal LM and its tokenizer to ``out_dir``.

    Args:
        out_dir: folder to create (model weights as safetensors, tokenizer, chat template).
        texts: optional texts to train the tokenizer on (e.g. the user's data).
        seed: weight initialisation seed.
        hidden_size: model width (64 keeps it ~100k parameters).
        layers: number of transformer blocks.
        initializer_range: std of the random weights. The default keeps outputs near uniform;
            a larger value (e.g. 0.2) gives the output layer enough scale for the loss to fall
            visibly when the adapter memorises a few rows.

    Returns:
        The output folder.
    """
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(texts)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
