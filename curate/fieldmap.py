"""Field mapping: any record layout -> chat, described by dotted paths (``instances.0.input``).

In the spirit of LLaMA-Factory's ``dataset_info`` columns and Axolotl's ``field_*`` keys. Two
shapes, as YAML under ``convert.fields`` or as ``--field KEY=VALUE`` flags:

Single turn (Self-Instruct, Dolly, custom exports)::

    fields: {prompt: instruction, input: instances.0.input, response: instances.0.output,
             system: system_prompt}

``prompt`` and ``input`` are joined by a blank line (the Alpaca template); ``response`` is the
assistant turn (leave it out for prompt-only files such as eval sets).

A list of turns (MT-Bench, chat exports)::

    fields: {turns: dialogue, role: speaker, content: text, system: system_prompt,
             roles: {human: user, bot: assistant}}

Each turn is an object (``role`` / ``content`` are paths inside it; ``roles`` maps its role
values, on top of the usual human/gpt/user/assistant/system names) or a plain string, whose
roles cycle through ``turn_roles`` (default ``[user, assistant]``; MT-Bench questions are
``[user]``). ``responses`` names a second list of strings interleaved as assistant turns.

A path is keys joined by dots; a segment that is an integer indexes a list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from curate.errors import ConfigError

CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")
DEFAULT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "system": "system",
}
PATH_KEYS = ("prompt", "input", "response", "system", "turns", "responses")
KEYS = (*PATH_KEYS, "role", "content", "roles", "turn_roles")


class MappingError(ValueError):
    """A record that does not fit the mapping (``conversion_error``)."""


@dataclass(frozen=True)
class FieldMap:
    """Where the chat parts of a record are. See the module docstring."""

    prompt: str | None = None
    input: str | None = None
    response: str | None = None
    system: str | None = None
    turns: str | None = None
    responses: str | None = None
    role: str = "role"
    content: str = "content"
    roles: dict[str, str] = field(default_factory=dict)
    turn_roles: tuple[str, ...] = ("user", "assistant")

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str = "convert.fields") -> FieldMap:
        """Check and build a mapping. Raises ``ConfigError`` naming ``where`` and the key."""
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a mapping of field -> path")
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in KEYS:
                raise ConfigError(f"{where}: unknown key {key!r} (valid: {', '.join(KEYS)})")
            if key == "roles":
                if not isinstance(value, Mapping) or not all(
                    isinstance(k, str) and v in CHAT_ROLES for k, v in value.items()
                ):
                    raise ConfigError(
                        f"{where}.roles: expected {{value: role}} with roles among "
                        f"{', '.join(CHAT_ROLES)}"
                    )
                values[key] = dict(value)
            elif key == "turn_roles":
                roles = [value] if isinstance(value, str) else value
                if not roles or not all(r in CHAT_ROLES for r in roles):
                    raise ConfigError(
                        f"{where}.turn_roles: expected a list of roles among "
                        f"{', '.join(CHAT_ROLES)}, got {value!r}"
                    )
                values[key] = tuple(roles)
            elif not isinstance(value, str) or not value:
                raise ConfigError(f"{where}.{key}: expected a dotted path string, got {value!r}")
            else:
                values[key] = value
        fm = cls(**values)
        single = fm.prompt or fm.input
        if single and fm.turns:
            raise ConfigError(f"{where}: give prompt/input/response or turns, not both")
        if not single and not fm.turns:
            raise ConfigError(f"{where}: needs prompt (or input) or turns")
        if fm.response and not single:
            raise ConfigError(
                f"{where}: response needs prompt (or input); with turns use responses"
            )
        if fm.responses and not fm.turns:
            raise ConfigError(f"{where}: responses goes with turns")
        return fm

    @classmethod
    def from_flags(cls, pairs: tuple[str, ...] | list[str]) -> FieldMap | None:
        """``--field KEY=VALUE`` flags (see ``field_flags``), or None when there are none."""
        raw = field_flags(pairs)
        return cls.parse(raw, "--field") if raw else None

    def as_dict(self) -> dict[str, Any]:
        """The non-default keys, as YAML / ``--json`` show them."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default_factory() if callable(f.default_factory) else f.default
            if value != default:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def consumed(self, data: Mapping[str, Any]) -> set[str]:
        """Top-level keys whose every value the mapping reads; the rest stay as metadata.

        A key the mapping reads only part of (a second Self-Instruct instance, a ``meta``
        object with more than the system prompt) is kept whole: nothing is lost.
        """
        paths = [p for p in (getattr(self, k) for k in PATH_KEYS) if p]
        out = set()
        for key in {p.split(".", 1)[0] for p in paths}:
            if key in data and all(
                any(leaf == p or leaf.startswith(p + ".") for p in paths)
                for leaf in _leaf_paths(data[key], key)
            ):
                out.add(key)
        return out

    def to_messages(self, data: Mapping[str, Any], notes: list[str]) -> list[dict[str, Any]]:
        """The chat messages of one record. Raises ``MappingError``."""
        messages: list[dict[str, Any]] = []
        system = self._text(data, "system", required=False)
        if system:
            messages.append({"role": "system", "content": system})
        if self.turns:
            messages.extend(self._turns(data, notes))
        else:
            prompt = self._text(data, "prompt", required=False)
            extra = self._text(data, "input", required=False)
            if self.prompt and self.input and get_path(data, self.prompt) is _MISSING:
                raise MappingError(f"prompt: {why_missing(data, self.prompt)}")
            text = f"{prompt}\n\n{extra}" if prompt and extra else (prompt or extra)
            if not text:
                path = self.prompt or self.input or ""
                raise MappingError(f"no prompt text at {path!r}: {why_missing(data, path)}")
            messages.append({"role": "user", "content": text})
            if self.response:
                messages.append(
                    {"role": "assistant", "content": self._text(data, "response", required=True)}
                )
        for path in (getattr(self, k) for k in PATH_KEYS):
            if path and _unmapped_items(data, path):
                notes.append("unmapped_list_items")
                break
        return messages

    def _text(self, data: Mapping[str, Any], key: str, required: bool) -> str:
        path = getattr(self, key)
        if not path:
            return ""
        value = get_path(data, path)
        if value is _MISSING or value is None:
            if required:
                raise MappingError(f"{key} {path!r}: {why_missing(data, path)}")
            return ""
        return _as_text(value, f"{key} {path!r}")

    def _turns(self, data: Mapping[str, Any], notes: list[str]) -> list[dict[str, Any]]:
        assert self.turns is not None
        turns = get_path(data, self.turns)
        if not isinstance(turns, list):
            why = why_missing(data, self.turns) if turns is _MISSING else type(turns).__name__
            raise MappingError(f"turns {self.turns!r} is not a list ({why})")
        responses: list[Any] = []
        if self.responses:
            responses = get_path(data, self.responses)
            if not isinstance(responses, list):
                raise MappingError(f"responses {self.responses!r} is not a list")
        roles = {**DEFAULT_ROLES, **self.roles}
        out: list[dict[str, Any]] = []
        for i, turn in enumerate(turns):
            if isinstance(turn, Mapping):
                who = get_path(turn, self.role)
                role = roles.get(who) if isinstance(who, str) else None
                if role is None:
                    raise MappingError(
                        f"turns[{i}] role {self.role!r} is {who!r}; map it with roles: "
                        f"{{{who}: user|assistant|system}}"
                        if who is not _MISSING
                        else f"turns[{i}] has no {self.role!r} key (keys: {_keys(turn)})"
                    )
                content = get_path(turn, self.content)
                if content is _MISSING:
                    raise MappingError(
                        f"turns[{i}] has no {self.content!r} key (keys: {_keys(turn)})"
                    )
                out.append({"role": role, "content": _as_text(content, f"turns[{i}]")})
                read = {self.role.split(".", 1)[0], self.content.split(".", 1)[0]}
                if not turn.keys() <= read:
                    notes.append("dropped_message_key")
            else:
                role = self.turn_roles[i % len(self.turn_roles)]
                out.append({"role": role, "content": _as_text(turn, f"turns[{i}]")})
            if i < len(responses):
                out.append({"role": "assistant", "content": _as_text(responses[i], "responses")})
        if len(responses) > len(turns):
            notes.append("unmapped_list_items")
        return out


_MISSING: Any = object()


def field_flags(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``--field KEY=VALUE`` flags as a ``convert.fields`` mapping (unchecked).

    ``roles=human:user,bot:assistant`` and ``turn_roles=user`` (comma lists) are the two
    non-path keys.
    """
    raw: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"--field {pair!r}: expected KEY=VALUE, e.g. prompt=instruction")
        if key == "roles":
            raw[key] = dict(kv.split(":", 1) for kv in value.split(",") if ":" in kv)
        elif key == "turn_roles":
            raw[key] = value.split(",")
        else:
            raw[key] = value
    return raw


def get_path(data: Any, path: str) -> Any:
    """The value at a dotted path (integer segments index lists), or ``_MISSING``."""
    node = data
    for seg in path.split("."):
        if isinstance(node, Mapping):
            if seg not in node:
                return _MISSING
            node = node[seg]
        elif isinstance(node, list) and seg.lstrip("-").isdigit():
            i = int(seg)
            if not -len(node) <= i < len(node):
                return _MISSING
            node = node[i]
        else:
            return _MISSING
    return node


def _leaf_paths(value: Any, prefix: str) -> list[str]:
    if isinstance(value, Mapping) and value:
        return [p for k, v in value.items() for p in _leaf_paths(v, f"{prefix}.{k}")]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in _leaf_paths(v, f"{prefix}.{i}")]
    return [prefix]


def why_missing(data: Any, path: str) -> str:
    """Which segment of ``path`` is absent, and what was there instead."""
    node = data
    done: list[str] = []
    for seg in path.split("."):
        where = ".".join(done) or "the record"
        if isinstance(node, Mapping):
            if seg not in node:
                return f"no key {seg!r} in {where} (keys: {_keys(node)})"
            node = node[seg]
        elif isinstance(node, list):
            if not seg.lstrip("-").isdigit():
                return f"{where} is a list; {seg!r} is not an index"
            if not -len(node) <= int(seg) < len(node):
                return f"{where} has {len(node)} item(s), no index {seg}"
            node = node[int(seg)]
        else:
            return f"{where} is a {type(node).__name__}, not an object or list"
        done.append(seg)
    return "the value is null"


def _unmapped_items(data: Any, path: str) -> bool:
    """True when ``path`` indexes a list that holds more items than the one mapped."""
    node = data
    for seg in path.split("."):
        if isinstance(node, list):
            if len(node) > 1:
                return True
            node = node[int(seg)] if node else None
        elif isinstance(node, Mapping):
            node = node.get(seg)
        else:
            return False
    return False


def _keys(obj: Mapping[str, Any]) -> str:
    return ", ".join(sorted(map(str, obj))[:12])


def _as_text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise MappingError(f"{where} is a {type(value).__name__}, expected a string")


# -- suggestions for unknown layouts --------------------------------------------------------

PROMPT_NAMES = ("instruction", "prompt", "question", "query", "problem", "task", "request")
INPUT_NAMES = ("input", "context", "passage")
RESPONSE_NAMES = ("output", "response", "answer", "completion", "target", "solution", "reply")
SYSTEM_NAMES = ("system", "system_prompt", "system_message")
TURN_NAMES = ("turns", "conversation", "dialogue", "dialog", "chat", "utterances", "history")
ROLE_NAMES = ("role", "from", "speaker", "author", "sender", "user")
CONTENT_NAMES = ("content", "value", "text", "message", "utterance")


def _leaves(data: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """(path, value) for every value down to depth 3, lists followed through item 0 only."""
    out: list[tuple[str, Any]] = []
    if depth > 3:
        return out
    if isinstance(data, Mapping):
        for k, v in data.items():
            p = f"{prefix}.{k}" if prefix else str(k)
            out.append((p, v))
            out.extend(_leaves(v, p, depth + 1))
    elif isinstance(data, list) and data and isinstance(data[0], Mapping):
        out.extend(_leaves(data[0], f"{prefix}.0", depth + 1))
    return out


def _pick(leaves: list[tuple[str, Any]], names: tuple[str, ...], kind: type) -> str | None:
    best: tuple[int, int, str] | None = None
    for path, value in leaves:
        name = path.rsplit(".", 1)[-1].lower()
        if name in names and isinstance(value, kind):
            rank = (names.index(name), path.count("."), path)
            best = rank if best is None or rank < best else best
    return best[2] if best else None


def suggest_fields(data: Any) -> dict[str, Any] | None:
    """A mapping that would fit this record, guessed from its key names, or None."""
    if not isinstance(data, Mapping):
        return None
    leaves = _leaves(data)
    out: dict[str, Any] = {}
    system = _pick(leaves, SYSTEM_NAMES, str)
    turns = _pick(leaves, TURN_NAMES, list)
    prompt = _pick(leaves, PROMPT_NAMES, str)
    if turns and not prompt:
        items = get_path(data, turns)
        first = items[0] if items else None
        if isinstance(first, Mapping):
            sub = [(str(k), v) for k, v in first.items()]
            role = _pick(sub, ROLE_NAMES, str)
            content = _pick(sub, CONTENT_NAMES, str)
            if not role or not content:
                return None
            out["turns"] = turns
            if role != "role":
                out["role"] = role
            if content != "content":
                out["content"] = content
        elif isinstance(first, str):
            out["turns"] = turns
            out["turn_roles"] = ["user", "assistant"]
        else:
            return None
    else:
        extra = _pick(leaves, INPUT_NAMES, str)
        response = _pick(leaves, RESPONSE_NAMES, str)
        if prompt is None and extra is None:
            return None
        if prompt:
            out["prompt"] = prompt
        if extra and extra != prompt:
            out["input"] = extra
        if response:
            out["response"] = response
    if system:
        out["system"] = system
    return out


def describe(fields: Mapping[str, Any]) -> str:
    """``{prompt: instruction, ...}`` plus the same mapping as ``--field`` flags."""
    parts, flags = [], []
    for k, v in fields.items():
        if isinstance(v, list):
            parts.append(f"{k}: [{', '.join(map(str, v))}]")
            flags.append(f"--field {k}={','.join(map(str, v))}")
        else:
            parts.append(f"{k}: {v}")
            flags.append(f"--field {k}={v}")
    return f"convert.fields: {{{', '.join(parts)}}} (or {' '.join(flags)})"
