"""The bundled chat schema, checked by hand, plus the structural checks, in one pass.

``check_chat`` mirrors schemas/openai_chat.schema.json rule for rule (a test compares it with
jsonschema on many records) because a generic validator costs ~10x the JSON parse itself, and
validation should cost about what reading does. The common case (a valid record) runs a
few dict lookups per message and allocates nothing; findings are built only on problems.
"""

from __future__ import annotations

from typing import Any

import orjson

from curate.tokens import PER_MESSAGE_OVERHEAD as PER_MESSAGE
from curate.tokens import estimate_tokens
from curate.validate.codes import Finding, finding

ROLES = ("system", "developer", "user", "assistant", "tool")
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"}
)
USER_PART_FIELD = {"image_url": "image_url", "input_audio": "input_audio", "file": "file"}
_MISSING: Any = object()


def jtype(value: Any) -> str:
    """The JSON type name of a Python value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _esc(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def fast_tokens(data: dict[str, Any]) -> int:
    """The estimated token count of a plainly valid record, or -1: "run ``check_chat``".

    Most records are a few ``{"role", "content"}`` messages with text content. For those
    this one loop both proves ``check_chat`` would find nothing and sums the token estimate
    (``TokenCounter().count_messages``), about twice as fast as doing the two separately.
    Anything less plain (tool use, content parts, extra keys, any finding) returns -1.
    A test checks that a non-negative answer always means ``check_chat(data) == []``.
    """
    msgs = data.get("messages")
    if (
        type(msgs) is not list
        or not msgs
        or len(data) > 1
        and ("tools" in data or "parallel_tool_calls" in data)
    ):
        return -1
    total = 0
    prev: Any = None
    for m in msgs:
        if type(m) is not dict or len(m) != 2:
            return -1
        role = m.get("role")
        c = m.get("content")
        if type(c) is not str or role == prev or not c or c.isspace():
            return -1
        if role == "system" or role == "developer":
            if prev is not None:
                return -1
        elif role != "user" and role != "assistant":
            return -1
        total += ((len(c) + 3) >> 2 if c.isascii() else estimate_tokens(c)) + PER_MESSAGE
        prev = role
    return total if prev == "assistant" else -1


def check_chat(data: dict[str, Any]) -> list[Finding]:
    """All findings (schema + structure) for one canonical chat record, in path order."""
    out: list[Finding] = []
    msgs = data.get("messages", _MISSING)
    if "tools" in data:
        _check_tools(data["tools"], out)
    ptc = data.get("parallel_tool_calls", _MISSING)
    if ptc is not _MISSING and type(ptc) is not bool:
        out.append(finding("invalid_type", "/parallel_tool_calls", "must be true or false"))
    if type(msgs) is not list:
        if msgs is _MISSING:
            out.append(finding("missing_messages", "", "record has no `messages` list"))
        else:
            out.append(finding("invalid_type", "/messages", f"is {jtype(msgs)}, expected array"))
        return out
    if not msgs:
        out.append(finding("empty_messages", "/messages", "`messages` is empty"))
        return out
    prev_role: Any = None
    seen_other = False  # a non-system turn came before (for system_not_first)
    n_assistant = 0
    trainable = False
    calls: dict[str, bool] | None = None  # tool call id -> answered (only when calls exist)
    role: Any = None
    for i, m in enumerate(msgs):
        # Paths are built only when something is wrong: the valid case allocates nothing.
        if type(m) is not dict:
            out.append(
                finding("invalid_type", f"/messages/{i}", f"message is {jtype(m)}, expected object")
            )
            prev_role = role = None
            continue
        role = m.get("role", _MISSING)
        content = m.get("content", _MISSING)
        # The rarer, slower checks run unless the message is exactly {role, content}. Counting
        # keys alone is not enough: {role, tool_calls} (no content key, legal OpenAI chat and
        # what a Parquet reader leaves after dropping a null content) has two keys too.
        more = len(m) != 2 or role is _MISSING or content is _MISSING
        if more or not m.keys() <= MESSAGE_KEYS:
            _check_keys(m, i, out)
        if role == "assistant":
            n_assistant += 1
            has_calls = False
            if more:
                if m.get("weight", 1) != 0:
                    trainable = True
                tcs = m.get("tool_calls", _MISSING)
                if tcs is not _MISSING:
                    has_calls = True
                    calls = _check_tool_calls(tcs, f"/messages/{i}", calls, out)
                if "function_call" in m:
                    has_calls = True
                    _check_function_call(m["function_call"], f"/messages/{i}", out)
                if "tool_call_id" in m:
                    out.append(
                        finding(
                            "unrecognized_key",
                            f"/messages/{i}/tool_call_id",
                            "`tool_call_id` belongs on tool messages",
                        )
                    )
            else:
                trainable = True
            if type(content) is str:
                if (not content or content.isspace()) and not has_calls:
                    out.append(
                        finding("empty_content", f"/messages/{i}/content", "content is empty")
                    )
            elif content is _MISSING or content is None:
                if not has_calls:
                    out.append(
                        finding(
                            "missing_content",
                            f"/messages/{i}/content",
                            "assistant message has no content and no tool_calls",
                        )
                    )
            else:
                _check_parts(content, f"/messages/{i}", False, has_calls, out)
            seen_other = True
        elif role == "user" or role == "system" or role == "developer" or role == "tool":
            if type(content) is str:
                if not content or content.isspace():
                    out.append(
                        finding("empty_content", f"/messages/{i}/content", "content is empty")
                    )
            elif content is _MISSING or content is None:
                out.append(
                    finding(
                        "missing_content",
                        f"/messages/{i}/content",
                        f"{role} message has no content",
                    )
                )
            else:
                _check_parts(content, f"/messages/{i}", role == "user", False, out)
            if more:
                for key in ("tool_calls", "function_call"):
                    if key in m:
                        out.append(
                            finding(
                                "unrecognized_key",
                                f"/messages/{i}/{key}",
                                f"`{key}` belongs on assistant messages",
                            )
                        )
            if role == "tool":
                calls = _check_tool_answer(m, f"/messages/{i}", calls, out)
            else:
                if more and "tool_call_id" in m:
                    out.append(
                        finding(
                            "unrecognized_key",
                            f"/messages/{i}/tool_call_id",
                            "`tool_call_id` belongs on tool messages",
                        )
                    )
                if role == "user":
                    seen_other = True
                elif seen_other:
                    out.append(
                        finding(
                            "system_not_first",
                            f"/messages/{i}/role",
                            f"{role} message after other turns",
                        )
                    )
        elif role is _MISSING:
            out.append(finding("missing_role", f"/messages/{i}", "message has no role"))
        else:
            out.append(finding("unknown_role", f"/messages/{i}/role", f"unknown role {role!r}"))
        if role == prev_role and role != "tool" and type(role) is str:
            out.append(
                finding(
                    "consecutive_same_role", f"/messages/{i}/role", f"two {role} turns in a row"
                )
            )
        prev_role = role
    if n_assistant == 0:
        out.append(finding("no_assistant", "/messages", "no assistant message"))
    else:
        if role != "assistant":
            out.append(
                finding(
                    "last_not_assistant",
                    f"/messages/{len(msgs) - 1}",
                    f"last turn is {role!r}, not assistant",
                )
            )
        if not trainable:
            out.append(
                finding("no_trainable_turn", "/messages", "every assistant message has weight 0")
            )
    if calls:
        for cid, answered in calls.items():
            if not answered:
                out.append(
                    finding(
                        "tool_call_unanswered",
                        "/messages",
                        f"tool call {cid!r} gets no tool message",
                    )
                )
    return out


def _check_keys(m: dict[str, Any], i: int, out: list[Finding]) -> None:
    """Unknown keys, and the types of ``name`` / ``weight``, for any role."""
    for k in m:
        if k not in MESSAGE_KEYS:
            out.append(
                finding("unrecognized_key", f"/messages/{i}/{_esc(k)}", f"unknown key {k!r}")
            )
    if "name" in m and type(m["name"]) is not str:
        out.append(finding("invalid_type", f"/messages/{i}/name", "`name` must be a string"))
    if "weight" in m:
        w = m["weight"]
        # JSON Schema's enum [0, 1] accepts 1.0 but not true; so do we.
        if type(w) is bool or w not in (0, 1):
            out.append(
                finding("invalid_weight", f"/messages/{i}/weight", f"weight {w!r} is not 0 or 1")
            )


def _check_parts(content: Any, p: str, user: bool, has_calls: bool, out: list[Finding]) -> None:
    """``content`` given as a list of parts (any non-string content lands here)."""
    cp = f"{p}/content"
    if type(content) is not list:
        out.append(
            finding(
                "invalid_content",
                cp,
                f"content is {jtype(content)}, expected string or array of parts",
            )
        )
        return
    if not content:
        out.append(finding("invalid_content", cp, "content is an empty array"))
        return
    text_len = 0
    for j, part in enumerate(content):
        pp = f"{cp}/{j}"
        if type(part) is not dict:
            out.append(finding("invalid_content", pp, f"part is {jtype(part)}, expected object"))
            continue
        kind = part.get("type", _MISSING)
        if kind == "text":
            text = part.get("text", _MISSING)
            if type(text) is not str:
                out.append(finding("invalid_content", f"{pp}/text", "text part needs a string"))
            else:
                text_len += len(text.strip())
        elif user and type(kind) is str and kind in USER_PART_FIELD:
            text_len += 1  # an image/audio/file counts as content
            _check_media(part, kind, pp, out)
        elif kind is _MISSING:
            out.append(finding("invalid_content", pp, "content part has no type"))
        else:
            allowed = "text, image_url, input_audio, file" if user else "text"
            out.append(
                finding(
                    "invalid_content",
                    f"{pp}/type",
                    f"part type {kind!r} not allowed here ({allowed})",
                )
            )
    if text_len == 0 and not has_calls and not any(f.path.startswith(cp) for f in out):
        out.append(finding("empty_content", cp, "content parts hold no text"))


def _check_media(part: dict[str, Any], kind: str, pp: str, out: list[Finding]) -> None:
    value = part.get(kind, _MISSING)
    if type(value) is not dict:
        out.append(finding("invalid_content", f"{pp}/{kind}", f"{kind} part needs an object"))
    elif kind == "image_url":
        if type(value.get("url")) is not str:
            out.append(finding("invalid_content", f"{pp}/image_url/url", "needs a string url"))
        if "detail" in value and value["detail"] not in ("auto", "low", "high"):
            out.append(
                finding(
                    "invalid_content", f"{pp}/image_url/detail", "detail must be auto, low or high"
                )
            )
    elif kind == "input_audio":
        if type(value.get("data")) is not str or type(value.get("format")) is not str:
            out.append(
                finding(
                    "invalid_content",
                    f"{pp}/input_audio",
                    "input_audio needs string data and format",
                )
            )


def _check_tool_calls(
    tcs: Any, p: str, calls: dict[str, bool] | None, out: list[Finding]
) -> dict[str, bool] | None:
    tp = f"{p}/tool_calls"
    if type(tcs) is not list or not tcs:
        out.append(finding("invalid_tool_calls", tp, "tool_calls must be a non-empty array"))
        return calls
    if calls is None:
        calls = {}
    for j, call in enumerate(tcs):
        cp = f"{tp}/{j}"
        if type(call) is not dict:
            out.append(finding("invalid_tool_calls", cp, "tool call must be an object"))
            continue
        cid = call.get("id")
        if type(cid) is not str:
            out.append(finding("invalid_tool_calls", f"{cp}/id", "tool call needs a string id"))
        elif cid in calls:
            out.append(finding("duplicate_tool_call_id", f"{cp}/id", f"id {cid!r} used twice"))
        else:
            calls[cid] = False
        if call.get("type") != "function":
            out.append(finding("invalid_tool_calls", f"{cp}/type", "type must be 'function'"))
        _check_function_call(call.get("function", _MISSING), cp, out, key="function")
    return calls


def _check_function_call(fn: Any, p: str, out: list[Finding], key: str = "function_call") -> None:
    fp = f"{p}/{key}"
    if type(fn) is not dict:
        out.append(finding("invalid_tool_calls", fp, f"`{key}` must be an object"))
        return
    if type(fn.get("name")) is not str:
        out.append(finding("invalid_tool_calls", f"{fp}/name", "needs a string name"))
    args = fn.get("arguments", _MISSING)
    if type(args) is not str:
        out.append(
            finding(
                "invalid_tool_calls", f"{fp}/arguments", "arguments must be a JSON-encoded string"
            )
        )
    else:
        try:
            orjson.loads(args)
        except orjson.JSONDecodeError:
            out.append(
                finding(
                    "tool_arguments_not_json",
                    f"{fp}/arguments",
                    "arguments string is not valid JSON",
                )
            )


def _check_tool_answer(
    m: dict[str, Any], p: str, calls: dict[str, bool] | None, out: list[Finding]
) -> dict[str, bool] | None:
    cid = m.get("tool_call_id", _MISSING)
    if cid is _MISSING:
        out.append(finding("missing_tool_call_id", p, "tool message has no tool_call_id"))
    elif type(cid) is not str:
        out.append(finding("invalid_type", f"{p}/tool_call_id", "tool_call_id must be a string"))
    elif calls is None or cid not in calls:
        out.append(
            finding(
                "tool_call_unmatched", f"{p}/tool_call_id", f"no earlier tool call has id {cid!r}"
            )
        )
    else:
        calls[cid] = True
    return calls


def _check_tools(tools: Any, out: list[Finding]) -> None:
    if type(tools) is not list:
        out.append(finding("invalid_tools", "/tools", f"tools is {jtype(tools)}, expected array"))
        return
    for j, tool in enumerate(tools):
        tp = f"/tools/{j}"
        if type(tool) is not dict:
            out.append(finding("invalid_tools", tp, "tool must be an object"))
            continue
        if tool.get("type") != "function":
            out.append(finding("invalid_tools", f"{tp}/type", "type must be 'function'"))
        fn = tool.get("function", _MISSING)
        if type(fn) is not dict:
            out.append(finding("invalid_tools", f"{tp}/function", "function must be an object"))
            continue
        if type(fn.get("name")) is not str:
            out.append(finding("invalid_tools", f"{tp}/function/name", "needs a string name"))
        for key, want in (("description", str), ("parameters", dict), ("strict", bool)):
            if key in fn and type(fn[key]) is not want:
                out.append(
                    finding("invalid_tools", f"{tp}/function/{key}", f"{key} has the wrong type")
                )
