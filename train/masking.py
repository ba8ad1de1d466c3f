"""Render a conversation through the model's real chat template and build its label mask.

Two ways to find the assistant tokens, both checked token by token in the tests:

* ``generation_markers``: the template wraps assistant turns in ``{% generation %}`` ...
  ``{% endgeneration %}`` and the tokenizer returns the assistant mask (what TRL uses).
* ``prefix_diff``: for templates without markers, each assistant turn is the token span between
  the rendering of the conversation before it (with the generation prompt) and the rendering
  that includes it. This needs a template whose renderings are prefixes of each other; rows
  where they are not get ``mask_mismatch`` rather than a silently wrong mask.

Labels are ``-100`` wherever no loss is taken. With ``assistant_only_loss`` off every token
carries loss.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from curate.chat import content_text

IGNORE = -100
_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


class RowProblem(Exception):
    """A row that cannot be rendered or masked; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Encoded:
    """One rendered row. ``input_ids``/``labels`` are already cut to ``max_length``."""

    input_ids: list[int]
    labels: list[int]
    n_tokens: int  # before truncation
    n_loss: int  # loss-bearing tokens after truncation
    n_loss_full: int  # loss-bearing tokens before truncation

    @property
    def truncated(self) -> bool:
        return len(self.input_ids) < self.n_tokens


def has_generation_markers(template: str | None) -> bool:
    return bool(template) and _GENERATION.search(template) is not None


def plain_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages as templates expect them: string content; tool calls kept; extra keys dropped."""
    out = []
    for m in messages:
        msg: dict[str, Any] = {"role": m.get("role"), "content": content_text(m.get("content"))}
        for key in ("tool_calls", "name", "tool_call_id"):
            if m.get(key) is not None:
                msg[key] = m[key]
        out.append(msg)
    return out


class ChatEncoder:
    """Tokenize chat records with labels, the same way for pre-flight and for training."""

    def __init__(self, tokenizer: Any, assistant_only_loss: bool = True, max_length: int = 1024):
        self.tokenizer = tokenizer
        self.assistant_only_loss = assistant_only_loss
        self.max_length = max_length
        template = getattr(tokenizer, "chat_template", None)
        if not assistant_only_loss:
            self.method = "all_tokens"
        elif has_generation_markers(template):
            self.method = "generation_markers"
        else:
            self.method = "prefix_diff"

    def _ids(self, messages: list[dict[str, Any]], tools: Any, **kw: Any) -> dict[str, Any]:
        from jinja2 import TemplateError

        try:
            return self.tokenizer.apply_chat_template(
                messages, tools=tools, tokenize=True, return_dict=True, **kw
            )
        # Templates reject rows with raise_exception (TemplateError) or fail on odd values.
        except (TemplateError, ValueError, TypeError, KeyError, IndexError) as exc:
            raise RowProblem("template_error", f"chat template failed: {exc}") from exc

    def encode(self, record: Mapping[str, Any]) -> Encoded:
        """Render one ``{"messages": [...]}`` record. Raises ``RowProblem``."""
        raw = record.get("messages") if isinstance(record, Mapping) else None
        if not isinstance(raw, list) or not raw or not all(isinstance(m, Mapping) for m in raw):
            raise RowProblem("not_chat", "no 'messages' list of message objects")
        messages = plain_messages(raw)
        tools = record.get("tools") if isinstance(record.get("tools"), list) else None
        if not any(m["role"] == "assistant" for m in messages):
            raise RowProblem("no_assistant", "no assistant message: nothing to learn from")
        if self.method == "generation_markers":
            out = self._ids(messages, tools, return_assistant_tokens_mask=True)
            ids = list(out["input_ids"])
            labels = [t if k else IGNORE for t, k in zip(ids, out["assistant_masks"], strict=True)]
        elif self.method == "prefix_diff":
            ids, labels = self._prefix_diff(messages, tools)
        else:
            ids = list(self._ids(messages, tools)["input_ids"])
            labels = list(ids)
        n_loss_full = sum(1 for x in labels if x != IGNORE)
        cut_ids, cut_labels = ids[: self.max_length], labels[: self.max_length]
        return Encoded(
            input_ids=cut_ids,
            labels=cut_labels,
            n_tokens=len(ids),
            n_loss=sum(1 for x in cut_labels if x != IGNORE),
            n_loss_full=n_loss_full,
        )

    def _prefix_diff(
        self, messages: list[dict[str, Any]], tools: Any
    ) -> tuple[list[int], list[int]]:
        ids = list(self._ids(messages, tools)["input_ids"])
        labels = [IGNORE] * len(ids)
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            before = list(
                self._ids(messages[:i], tools, add_generation_prompt=True)["input_ids"]
                if i
                else self._ids([], tools, add_generation_prompt=True)["input_ids"]
            )
            upto = list(self._ids(messages[: i + 1], tools)["input_ids"])
            if upto[: len(before)] != before or ids[: len(upto)] != upto:
                raise RowProblem(
                    "mask_mismatch",
                    f"the chat template renders turn {i + 1} differently depending on what "
                    "follows, so its assistant tokens cannot be located; use a template with "
                    "{% generation %} markers (--chat-template) or turn assistant_only_loss off",
                )
            for j in range(len(before), len(upto)):
                labels[j] = ids[j]
        return ids, labels
