"""Chat-aware text views of a canonical record (``{"messages": [...]}``).

Dedup, audit and split all compare "the conversation", "the prompt side" or "the response
side"; this module is the one place that defines what those texts are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson

from curate.records import parse_record

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
    content = message.get("content")
    if type(content) is str and not message.get("tool_calls"):
        return content  # the common case, without the general path's checks
    text = content_text(content)
    calls = message.get("tool_calls")
    if calls:
        rendered = orjson.dumps(calls, option=orjson.OPT_SORT_KEYS).decode()
        text = f"{text}\n{rendered}" if text else rendered
    return text


def messages_of(data: Any) -> list[Mapping[str, Any]]:
    """The message list of a canonical record, or [] when it has none."""
    # ``type(x) is dict`` first: parsed JSON is dicts, and the ABC check costs ~1 us each.
    if type(data) is dict or isinstance(data, Mapping):
        msgs = data.get("messages")
        if isinstance(msgs, list):
            return [m for m in msgs if type(m) is dict or isinstance(m, Mapping)]
    return []


def side_text(messages: Sequence[Mapping[str, Any]], side: Side = "conversation") -> str:
    """One string for the chosen side, with role markers so turn structure counts.

    ``prompt`` is system/developer/user turns, ``response`` the assistant turns,
    ``conversation`` everything (tool turns included).
    """
    roles = PROMPT_ROLES if side == "prompt" else RESPONSE_ROLES if side == "response" else None
    out = []
    for m in messages:
        role = m.get("role")
        if roles is not None and role not in roles:
            continue
        text = m.get("content")
        if type(text) is not str or m.get("tool_calls"):  # ``message_text``'s common case inline
            text = message_text(m)
        out.append(f"<{role}> {text}")
    return "\n".join(out)


def record_text(data: Any, side: Side = "conversation") -> str:
    """``side_text`` of a canonical record's messages."""
    return side_text(messages_of(data), side)


# -- tool use as plain text (``curate train --tools-as-text``) -------------------------------

TOOLS_PREAMBLE = (
    "You may call functions. Their signatures, one JSON object per line:\n<tools>\n{tools}\n"
    "</tools>\nTo call one, reply with a JSON object with its name and arguments inside "
    '<tool_call></tool_call> tags: <tool_call>\n{{"name": ..., "arguments": {{...}}}}\n'
    "</tool_call>"
)


def has_tool_use(data: Any) -> bool:
    """True when a record has ``tools`` or any message with ``tool_calls`` / a tool role."""
    if isinstance(data, Mapping) and data.get("tools"):
        return True
    return any(m.get("tool_calls") or m.get("role") == "tool" for m in messages_of(data))


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _call_text(call: Any) -> str:
    fn = call.get("function") if isinstance(call, Mapping) else None
    fn = fn if isinstance(fn, Mapping) else {}
    args = fn.get("arguments")
    if isinstance(args, str):
        # Read under the reader's rules: a string it would refuse (not JSON, an integer
        # beyond 64 bits that would come back a float) is kept as the string it is.
        value, reason, _ = parse_record(args.encode("utf-8", "surrogatepass"))
        if not reason:
            args = value
    return f"<tool_call>\n{_json({'name': fn.get('name'), 'arguments': args})}\n</tool_call>"


def tools_as_text(data: Mapping[str, Any]) -> dict[str, Any]:
    """The record with tool use written into plain text turns (the Hermes / Qwen layout).

    For chat templates that ignore ``tools`` and ``tool_calls``:

    - ``tools`` go into the system message (one is added when there is none), after its
      text: ``TOOLS_PREAMBLE`` with one JSON object per tool function.
    - an assistant turn's ``tool_calls`` become ``<tool_call>\\n{"name": ..., "arguments":
      {...}}\\n</tool_call>`` blocks after its text (arguments decoded from their JSON string).
    - ``tool`` messages become a ``user`` turn of ``<tool_response>\\n...\\n</tool_response>``
      blocks; consecutive ones (answers to parallel calls) share one turn.

    Records without tool use come back unchanged (the same object).
    """
    if not has_tool_use(data):
        return dict(data) if not isinstance(data, dict) else data
    out = {k: v for k, v in data.items() if k != "tools"}
    messages: list[dict[str, Any]] = []
    tools = data.get("tools")
    if isinstance(tools, list) and tools:
        lines = "\n".join(
            _json(t.get("function", t) if isinstance(t, Mapping) else t) for t in tools
        )
        preamble = TOOLS_PREAMBLE.format(tools=lines)
        msgs = messages_of(data)
        if msgs and msgs[0].get("role") == "system":
            text = content_text(msgs[0].get("content"))
            messages.append({**msgs[0], "content": f"{text}\n\n{preamble}" if text else preamble})
            rest = msgs[1:]
        else:
            messages.append({"role": "system", "content": preamble})
            rest = msgs
    else:
        rest = messages_of(data)
    for m in rest:
        role = m.get("role")
        if role == "assistant" and m.get("tool_calls"):
            text = content_text(m.get("content"))
            calls = "\n".join(_call_text(c) for c in m["tool_calls"])
            msg = {k: v for k, v in m.items() if k != "tool_calls"}
            msg["content"] = f"{text}\n{calls}" if text else calls
            messages.append(msg)
        elif role == "tool":
            block = f"<tool_response>\n{content_text(m.get('content'))}\n</tool_response>"
            last = messages[-1] if messages else None
            if last is not None and last.get("_tool_turn"):
                last["content"] += "\n" + block
            else:
                messages.append({"role": "user", "content": block, "_tool_turn": True})
        else:
            messages.append(dict(m))
    for msg in messages:
        msg.pop("_tool_turn", None)
    out["messages"] = messages
    return out
