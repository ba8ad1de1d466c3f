"""Token counts: exact with a local Hugging Face tokenizer (through its chat template), or a
clearly labelled estimate when none is given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from curate.chat import message_text

# A rough BPE rule of thumb: ~4 characters per token for Latin-script text, about one token
# per character for CJK and other wide scripts, plus a few tokens of chat-format overhead
# per message.
_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\u3040-\u30ff\uff00-\uffef]")
PER_MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text`` (no tokenizer needed)."""
    if not text:
        return 0
    if text.isascii():  # no wide character possible; skips the regex scan (most texts)
        return math.ceil(len(text) / 4)
    wide = len(_WIDE.findall(text))
    narrow = len(text) - wide
    return wide + math.ceil(narrow / 4)


def estimate_many(texts: Sequence[str]) -> np.ndarray:
    """``[estimate_tokens(t) for t in texts]`` as int64: ``ceil(len / 4)`` for the ASCII texts
    at once, the rest one by one."""
    n = len(texts)
    out = (np.fromiter(map(len, texts), dtype=np.int64, count=n) + 3) // 4
    for i in np.flatnonzero(~np.fromiter(map(str.isascii, texts), dtype=bool, count=n)):
        out[i] = estimate_tokens(texts[i])
    return out


class TokenCounter:
    """Counts tokens exactly (``tokenizer_path`` given) or by estimate.

    Attributes:
        exact: True when a real tokenizer is used; reports label estimates as such.
        method: ``"tokenizer:<path>"`` or ``"estimate"``, for reports.
    """

    def __init__(self, tokenizer_path: str | None = None) -> None:
        self.tokenizer = None
        self.exact = tokenizer_path is not None
        self.method = f"tokenizer:{tokenizer_path}" if tokenizer_path else "estimate"
        if tokenizer_path:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)

    def count_text(self, text: str) -> int:
        if self.tokenizer is None:
            return estimate_tokens(text)
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_messages(self, messages: Sequence[Mapping[str, Any]]) -> int:
        """Tokens of a whole conversation; exact counts render it through the chat template."""
        if self.tokenizer is not None and getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(
                [_plain_message(m) for m in messages], tokenize=True, return_dict=False
            )
            return len(ids)
        return sum(self.count_text(message_text(m)) + PER_MESSAGE_OVERHEAD for m in messages)

    def count_by_role(self, messages: Sequence[Mapping[str, Any]]) -> dict[str, int]:
        """Content tokens per role (no template overhead)."""
        out: dict[str, int] = {}
        for m in messages:
            role = str(m.get("role"))
            out[role] = out.get(role, 0) + self.count_text(message_text(m))
        return out

    def count_conversation(
        self,
        messages: Sequence[Mapping[str, Any]],
        roles: Sequence[str],
        texts: Sequence[str],
    ) -> tuple[dict[str, int], int]:
        """``(count_by_role(messages), count_messages(messages))`` in one pass, given each
        message's ``str`` role and ``message_text`` (an estimate counts each text once)."""
        if self.tokenizer is not None:
            return self.count_by_role(messages), self.count_messages(messages)
        by_role: dict[str, int] = {}
        total = 0
        for role, text in zip(roles, texts, strict=True):
            # estimate_tokens inlined for ASCII (ceil(len / 4)): one call less per message
            n = (len(text) + 3) // 4 if text.isascii() else estimate_tokens(text)
            by_role[role] = by_role.get(role, 0) + n
            total += n + PER_MESSAGE_OVERHEAD
        return by_role, total


def _plain_message(m: Mapping[str, Any]) -> dict[str, Any]:
    msg = dict(m)
    if msg.get("content") is None:
        msg["content"] = ""
    return msg
