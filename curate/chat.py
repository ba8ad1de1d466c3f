"""Chat-aware text views of a canonical record (``{"messages": [...]}``).

Dedup, audit and split all compare "the conversation", "the prompt side" or "the response
side"; this module is the one place that defines what those texts are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson

Side = Literal["conversation", "prompt", "response"]
PROMPT_ROLES = frozenset({"system", "developer", "user"})
RESPONSE_ROLES = frozenset({"assistant"})


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or the text parts of a content list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return str(content)


def message_text(message: Mapping[str, Any]) -> str:
    """Content plus any tool calls, so two calls with other arguments differ."""
    text = content_text(message.get("content"))
    calls = message.get("tool_calls")
    if calls:
        rendered = orjson.dumps(calls, option=orjson.OPT_SORT_KEYS).decode()
        text = f"{text}\n{rendered}" if text else rendered
    return text


def messages_of(data: Any) -> list[Mapping[str, Any]]:
    """The message list of a canonical record, or [] when it has none."""
    if isinstance(data, Mapping):
        msgs = data.get("messages")
        if isinstance(msgs, list):
            return [m for m in msgs if isinstance(m, Mapping)]
    return []


def side_text(messages: Sequence[Mapping[str, Any]], side: Side = "conversation") -> str:
    """One string for the chosen side, with role markers so turn structure counts.

    ``prompt`` is system/developer/user turns, ``response`` the assistant turns,
    ``conversation`` everything (tool turns included).
    """
    out = []
    for m in messages:
        role = m.get("role")
        if side == "prompt" and role not in PROMPT_ROLES:
            continue
        if side == "response" and role not in RESPONSE_ROLES:
            continue
        out.append(f"<{role}> {message_text(m)}")
    return "\n".join(out)


def record_text(data: Any, side: Side = "conversation") -> str:
    """``side_text`` of a canonical record's messages."""
    return side_text(messages_of(data), side)
