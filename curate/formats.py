"""Detect the shape of a fine-tuning record and convert it to canonical chat.

Canonical chat is the OpenAI fine-tuning shape, ``{"messages": [...], "tools"?: [...]}``,
with every other field of the input kept at the top level as metadata (``id``, ``category``...).

Supported inputs (``detect_format`` names):

- ``chat``: ``{"messages": [...]}``, passed through unchanged.
- ``alpaca``: ``{"instruction", "input"?, "output", "system"?, "history"?}``; ``history`` is a
  list of ``[prompt, response]`` pairs that come before the instruction.
- ``sharegpt``: ``{"conversations": [{"from", "value"}], "system"?, "tools"?}`` with roles
  human/gpt/system and tool use: ``function_call`` turns become assistant ``tool_calls``
  (ids ``call_1``, ``call_2``... in order, so output is deterministic), ``observation`` turns
  become ``tool`` messages answering the oldest unanswered call; ``tools`` may be a JSON string
  or a list, and becomes an OpenAI ``tools`` list. ``{"role", "content"}`` turns are accepted too.
- ``prompt_completion``: ``{"prompt", "completion"}`` as strings, or as message lists (TRL's
  conversational prompt-completion shape).

- ``fields`` (a ``FieldMap``, ``convert.fields`` in YAML, ``--field`` flags): any other layout,
  described by dotted paths with list indexes, e.g. Self-Instruct's
  ``{prompt: instruction, input: instances.0.input, response: instances.0.output}`` or a list
  of turns ``{turns: dialogue, role: speaker, content: text, system: system_prompt}``.

A file has one format, decided by a majority over its first ``SAMPLE`` records
(``Converter.prime``; each file of a folder has its own); a record of another shape is
rejected with the shape it looked like.

Conversion is lossless for what the chat format can hold; anything it cannot hold is reported
as a *note* (a stable code such as ``dropped_message_key``), never dropped silently.
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from curate.errors import ConfigError
from curate.fieldmap import FieldMap, MappingError, describe, suggest_fields
from curate.records import Record, parse_record
from curate.stage import Dropped

FORMATS = ("chat", "alpaca", "sharegpt", "prompt_completion")
STAGE = "convert"
MAX_NOTE_EXAMPLES = 5
SAMPLE = 1000  # records read ahead to decide a file's format by majority
_SOURCE = operator.attrgetter("source")

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "tool": "tool",
    "observation": "tool",
    "function_call": "function_call",
}
# Fields each format consumes; every other top-level field is kept as metadata.
CONSUMED = {
    "alpaca": ("instruction", "input", "output", "system", "history"),
    "sharegpt": ("conversations", "system", "tools"),
    "prompt_completion": ("prompt", "completion"),
}


class ConversionError(ValueError):
    """A record that claims a format but cannot be turned into chat.

    ``reason`` is the reject code: ``conversion_error``, or the reader's own code (such as
    ``integer_out_of_range``) for a JSON string inside the record that the reader would
    refuse as a line.
    """

    def __init__(self, message: str, reason: str = "conversion_error") -> None:
        super().__init__(message)
        self.reason = reason


def detect_format(data: Any) -> str:
    """``chat`` | ``alpaca`` | ``sharegpt`` | ``prompt_completion`` | ``unknown``."""
    if not isinstance(data, Mapping):
        return "unknown"
    if "messages" in data:
        return "chat"
    if "conversations" in data:
        return "sharegpt"
    if "instruction" in data and "output" in data:
        return "alpaca"
    if "prompt" in data and "completion" in data:
        return "prompt_completion"
    return "unknown"


def convert_record(data: Any, fmt: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """Convert one parsed record to canonical chat.

    Args:
        data: the parsed record.
        fmt: the source format; ``None`` detects it per record.

    Returns:
        ``(chat_record, notes)``; notes are codes for anything the chat format cannot hold.

    Raises:
        ConversionError: the record does not fit the format (message says what and where).
    """
    detected = detect_format(data)
    fmt = fmt or detected
    if fmt != detected:
        keys = ", ".join(sorted(data)[:6]) if isinstance(data, Mapping) else type(data).__name__
        raise ConversionError(f"not a {fmt} record (looks like {detected}; keys: {keys})")
    if fmt == "chat":
        if not isinstance(data, Mapping):
            raise ConversionError("not a JSON object")
        return data if isinstance(data, dict) else dict(data), []
    if fmt not in CONSUMED:
        raise ConversionError(f"unknown format {fmt!r}")
    if not isinstance(data, Mapping):
        raise ConversionError("not a JSON object")
    notes: list[str] = []
    if fmt == "alpaca":
        messages = _alpaca(data)
        tools = None
    elif fmt == "sharegpt":
        messages, tools = _sharegpt(data, notes)
    else:
        messages = _prompt_completion(data)
        tools = None
    out: dict[str, Any] = {"messages": messages}
    if tools:
        out["tools"] = tools
    for key, value in data.items():
        if key not in CONSUMED[fmt]:
            if key in out:
                notes.append("dropped_conflicting_field")
                continue
            out[key] = value
    return out, notes


# -- alpaca ---------------------------------------------------------------------------------


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ConversionError(f"{where} is a {type(value).__name__}, expected a string")


def _alpaca(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = _text(data.get("system"), "system")
    if system:
        messages.append({"role": "system", "content": system})
    history = data.get("history") or []
    if not isinstance(history, list):
        raise ConversionError("history is not a list of [prompt, response] pairs")
    for i, pair in enumerate(history):
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise ConversionError(f"history[{i}] is not a [prompt, response] pair")
        messages.append({"role": "user", "content": _text(pair[0], f"history[{i}][0]")})
        messages.append({"role": "assistant", "content": _text(pair[1], f"history[{i}][1]")})
    instruction = _text(data.get("instruction"), "instruction")
    extra_input = _text(data.get("input"), "input")
    # The usual Alpaca template: the input follows the instruction after a blank line.
    prompt = (
        f"{instruction}\n\n{extra_input}"
        if instruction and extra_input
        else (instruction or extra_input)
    )
    messages.append({"role": "user", "content": prompt})
    messages.append({"role": "assistant", "content": _text(data.get("output"), "output")})
    return messages


# -- sharegpt -------------------------------------------------------------------------------


def _nested_json(text: str, what: str) -> Any:
    """A JSON value held as a string in the record (``tools``, a ``function_call`` value),
    read under the rules of the reader: what the reader refuses in a line (an integer beyond
    64 bits, which orjson would read as a float; NaN; a lone surrogate) is refused here with
    the reader's reason, never written back changed. Duplicate keys keep the last value and
    long decimals round to the nearest float, as for a line."""
    value, reason, message = parse_record(text.encode("utf-8", "surrogatepass"))
    if reason in ("json_decode", "invalid_utf8"):
        raise ConversionError(f"{what} is a string but not valid JSON: {message}")
    if reason:
        raise ConversionError(f"{what}: {message}", reason)
    return value


def _tools(raw: Any) -> list[dict[str, Any]]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = _nested_json(raw, "tools")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConversionError(f"tools is a {type(raw).__name__}, expected a list")
    out = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise ConversionError(f"tools[{i}] is not an object")
        if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
            out.append(tool)
        elif isinstance(tool.get("name"), str):
            out.append({"type": "function", "function": tool})
        else:
            raise ConversionError(f"tools[{i}] has no function name")
    return out


def _tool_calls(value: Any, first_id: int, where: str) -> list[dict[str, Any]]:
    """A ``function_call`` turn's value -> OpenAI ``tool_calls`` (one or several calls)."""
    if isinstance(value, str):
        value = _nested_json(value, where)
    calls = value if isinstance(value, list) else [value]
    out = []
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ConversionError("function_call value has no function name")
        args = call.get("arguments", {})
        if not isinstance(args, str):
            # OpenAI stores arguments as a JSON string; keep key order, no spaces lost.
            args = orjson.dumps(args).decode()
        out.append(
            {
                "id": f"call_{first_id + len(out)}",
                "type": "function",
                "function": {"name": call["name"], "arguments": args},
            }
        )
    return out


def _sharegpt(
    data: Mapping[str, Any], notes: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    turns = data.get("conversations")
    if not isinstance(turns, list):
        raise ConversionError("conversations is not a list")
    messages: list[dict[str, Any]] = []
    system = _text(data.get("system"), "system")
    if system:
        messages.append({"role": "system", "content": system})
    pending: list[str] = []  # ids of calls not yet answered by an observation, oldest first
    n_calls = 0
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise ConversionError(f"conversations[{i}] is not an object")
        if "from" in turn:
            who, value, known = turn.get("from"), turn.get("value"), ("from", "value")
        else:
            who, value, known = turn.get("role"), turn.get("content"), ("role", "content")
        role = SHAREGPT_ROLES.get(who) if isinstance(who, str) else None
        if role is None:
            raise ConversionError(f"conversations[{i}] has unknown role {who!r}")
        # OpenAI's chat format holds a per-turn `weight` (0/1) on assistant turns: keep it.
        weight = turn.get("weight") if role == "assistant" else None
        if weight not in (0, 1) or isinstance(weight, bool):
            weight = None
        for key in turn:
            if key not in known and not (key == "weight" and weight is not None):
                notes.append("dropped_message_key")
        if role == "function_call":
            calls = _tool_calls(value, n_calls + 1, f"conversations[{i}] function_call value")
            n_calls += len(calls)
            pending.extend(c["id"] for c in calls)
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].extend(calls)  # consecutive calls: one parallel turn
            elif last and last["role"] == "assistant" and not last.get("tool_calls"):
                last["tool_calls"] = calls  # "let me check" text, then the call: one turn
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": calls})
        elif role == "tool":
            if value is None:
                notes.append("null_value")
            if not pending:
                raise ConversionError(f"conversations[{i}] answers no function_call")
            messages.append(
                {"role": "tool", "tool_call_id": pending.pop(0), "content": _text(value, "value")}
            )
        else:
            if value is None:  # written as "" (an empty turn, as validate reports it): noted
                notes.append("null_value")
            messages.append({"role": role, "content": _text(value, f"conversations[{i}]")})
            if weight is not None:
                messages[-1]["weight"] = weight
    if pending:
        notes.append("unanswered_tool_call")
    return messages, _tools(data.get("tools"))


# -- prompt / completion --------------------------------------------------------------------


def _prompt_completion(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    prompt, completion = data.get("prompt"), data.get("completion")
    if isinstance(prompt, list) and isinstance(completion, list):
        return [dict(m) for m in prompt + completion]
    return [
        {"role": "user", "content": _text(prompt, "prompt")},
        {"role": "assistant", "content": _text(completion, "completion")},
    ]


# -- the streaming step ---------------------------------------------------------------------


@dataclass
class Converter:
    """Per-record step ``Record -> Record | Dropped`` for ``stage.stream`` / ``stage.collect``.

    A file has one format: ``fmt`` when given (``--from``), ``fields`` when a mapping is given
    (``--field`` / ``convert.fields``), else the majority shape of the first ``SAMPLE``
    records when the caller runs the stream through ``prime`` (without it, the first record
    with a recognisable shape decides). Records of another shape are dropped, not silently
    reinterpreted, and the reject says which shape each looked like.

    Dropped reasons: ``unknown_format`` (a record with no known shape, whatever the file's
    format; the detail names its keys and a ``convert.fields`` mapping that would fit),
    ``conversion_error`` (the record has another known shape than the file's, or does not
    fit the file's format). With ``keep_unknown`` (what ``validate`` uses) records
    with no known shape pass through unchanged, so the chat validator reports them
    (``missing_messages``), as OpenAI's own checker does. ``stats()`` counts formats and
    conversion notes, with the first few line references of each note.

    Example:
        conv = Converter()
        kept = list(stage.stream(conv, conv.prime(records), rejects.append))
        conv.stats()  # {"formats": {"sharegpt": 300}, "conversion_notes": {...}, ...}
    """

    fmt: str | None = None
    keep_unknown: bool = False
    fields: FieldMap | None = None
    formats: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    note_examples: dict[str, list[str]] = field(default_factory=dict)
    detected_from: str | None = None
    votes: dict[str, int] = field(default_factory=dict)
    suggestion: dict[str, Any] | None = None
    _chat: int = field(default=0, init=False, repr=False)
    _hints: dict[frozenset[str], str] = field(default_factory=dict, init=False, repr=False)
    # Under ``prime``: each file's decided format (None: no early record had a known shape,
    # then its first recognisable record decides), and the current file's votes.
    _files: dict[str, str | None] = field(default_factory=dict, init=False, repr=False)
    _file_votes: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.fmt is not None and self.fmt not in FORMATS:
            raise ConfigError(f"unknown format {self.fmt!r}; expected one of {', '.join(FORMATS)}")
        if self.fields is not None:
            if self.fmt is not None:
                raise ConfigError("give a format (--from) or a field mapping (--field), not both")
            self.fmt = "fields"

    def prime(self, items: Iterable[Any]) -> Iterator[Any]:
        """Decide each file's format by a majority over its first ``SAMPLE`` records.

        Returns the same items (records and bad lines, in order) for the caller to stream on,
        converting each item before the next is drawn. The items of a folder come file after
        file (``curate.shards``): each file gets its own vote, taken when its first item is
        reached, so a folder may mix formats (``format_by_file`` in ``stats``). Ties go to
        the format seen first. A no-op when the format is already fixed.
        """
        it = iter(items)
        if self.fmt is not None:
            return it
        return self._primed(it)

    def _primed(self, it: Iterator[Any]) -> Iterator[Any]:
        for source, items in itertools.groupby(it, key=_SOURCE):  # one group a file
            head = list(itertools.islice(items, SAMPLE))
            self._vote(source, head)
            yield from head
            yield from items  # noqa: B031 (the rest of this file, after its head)

    def _vote(self, source: str, head: list[Any]) -> None:
        votes: Counter[str] = Counter()
        first: dict[str, str] = {}
        for item in head:
            if isinstance(item, Record):
                fmt = detect_format(item.data)
                if fmt != "unknown":
                    votes[fmt] += 1
                    first.setdefault(fmt, item.ref)
        self.fmt, self._file_votes = None, {}
        if votes:
            order = list(first)
            best = max(votes, key=lambda f: (votes[f], -order.index(f)))
            self.fmt, self._file_votes = best, dict(sorted(votes.items()))
            if self.detected_from is None:
                self.detected_from = first[best]
            total = Counter(self.votes)
            total.update(votes)
            self.votes = dict(sorted(total.items()))
        self._files[source] = self.fmt

    def __call__(self, record: Record) -> Record | Dropped:
        data = record.data
        fmt = self.fmt
        if fmt == "chat" and type(data) is dict and "messages" in data:
            self._chat += 1  # the hot path: chat passes through (a plain int is cheapest)
            return record
        if fmt == "fields":
            return self._mapped(record)
        detected = detect_format(data)
        if fmt is None and detected != "unknown":
            fmt = self.fmt = detected
            self.detected_from = self.detected_from or record.ref
            if record.source in self._files:
                self._files[record.source] = fmt
        if detected == "unknown":
            if self.keep_unknown:
                self.formats["unknown"] += 1
                return record
            return Dropped(record, STAGE, "unknown_format", self._unknown_detail(data))
        if detected != fmt:
            keys = ", ".join(sorted(data)[:6])
            return Dropped(
                record,
                STAGE,
                "conversion_error",
                f"looks like {detected}, but this file is {fmt}{self._majority()} (keys: {keys})",
                {"looks_like": detected},
            )
        if fmt == "chat":
            self._chat += 1
            return record
        try:
            data, notes = convert_record(data, fmt)
        except ConversionError as exc:
            return Dropped(record, STAGE, exc.reason, f"{fmt}: {exc}")
        return self._converted(record, fmt, data, notes)

    def _converted(self, record: Record, fmt: str, data: Any, notes: list[str]) -> Record:
        self.formats[fmt] += 1
        for note in notes:
            self.notes[note] += 1
            examples = self.note_examples.setdefault(note, [])
            if len(examples) < MAX_NOTE_EXAMPLES:
                examples.append(record.ref)
        return record.with_data(data)

    def _mapped(self, record: Record) -> Record | Dropped:
        assert self.fields is not None
        data = record.data
        if not isinstance(data, Mapping):
            return Dropped(record, STAGE, "conversion_error", "fields: not a JSON object")
        notes: list[str] = []
        try:
            messages = self.fields.to_messages(data, notes)
        except MappingError as exc:
            return Dropped(record, STAGE, "conversion_error", f"fields: {exc}")
        out: dict[str, Any] = {"messages": messages}
        consumed = self.fields.consumed(data)
        for key, value in data.items():
            if key in consumed:
                continue
            if key in out:
                notes.append("dropped_conflicting_field")
                continue
            out[key] = value
        return self._converted(record, "fields", out, notes)

    def _majority(self) -> str:
        file_votes = self._file_votes if self._files else self.votes
        if not file_votes:
            return ""
        n = sum(file_votes.values())
        votes = ", ".join(f"{k} {v}" for k, v in file_votes.items())
        return f" (by majority of the first {n:,} records: {votes})"

    def _unknown_detail(self, data: Any) -> str:
        if not isinstance(data, dict):
            return f"a {type(data).__name__}, not an object"
        keyset = frozenset(map(str, data))
        hint = self._hints.get(keyset)
        if hint is None:
            fit = suggest_fields(data)
            if fit and self.suggestion is None:
                self.suggestion = fit
            hint = f"; a mapping that fits: {describe(fit)}" if fit else ""
            if len(self._hints) < 1000:
                self._hints[keyset] = hint
        keys = ", ".join(sorted(keyset)[:12])
        return (
            f"no known format (keys: {keys}); expected messages, conversations, "
            f"instruction/output or prompt/completion{hint}"
        )

    def counts(self) -> Counter[str]:
        """Records per source format (``unknown``: passed through by ``keep_unknown``)."""
        out = Counter(self.formats)
        if self._chat:
            out["chat"] += self._chat
        return out

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "formats": dict(sorted(self.counts().items())),
            "format_detected_from": self.detected_from,
            "format_votes": self.votes,
            "conversion_notes": dict(sorted(self.notes.items())),
            "conversion_note_examples": {k: v for k, v in sorted(self.note_examples.items())},
        }
        if len(self._files) > 1:
            out["format_by_file"] = {k: v or "unknown" for k, v in self._files.items()}
        if self.fields is not None:
            out["fields"] = self.fields.as_dict()
        if self.suggestion is not None:
            out["suggested_fields"] = self.suggestion
        return out

    @property
    def source_format(self) -> str:
        """The file's format (``unknown`` when no record had a recognisable shape;
        ``mixed`` when the files of a folder have different formats)."""
        if len({f for f in self._files.values() if f is not None}) > 1:
            return "mixed"
        known = [f for f in self._files.values() if f is not None]
        return self.fmt or (known[0] if known else "unknown")


def to_chat(record: Record, fmt: str | None = None) -> Record | Dropped:
    """One-off conversion of a record (no stats). Use ``Converter`` in a stream."""
    return Converter(fmt)(record)
