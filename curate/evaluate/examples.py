"""Test records -> evaluation examples: the prompt turns and the reference assistant turn.

A record is evaluated on its last assistant turn: everything before it is the prompt, the turn
itself is the reference. Records that cannot be evaluated are not lost: each becomes a
``Skipped`` entry with a stable reason code and its line, and the counts add up
(``n_input == len(examples) + len(skipped) + n_beyond_limit``).

Skip reasons: ``json_decode`` / ``invalid_utf8`` / ``too_deep`` / ``not_an_object`` (unreadable
line), ``no_messages`` (no ``messages`` list), ``no_reference`` (no assistant turn, or one with
nothing before it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from curate.chat import message_text, messages_of
from curate.errors import InputError
from curate.reader import read_chat
from curate.records import BadLine, Record


@dataclass(frozen=True)
class Example:
    """One evaluation item.

    Attributes:
        id: the record's ``id`` field, else ``source:line``.
        source, line: where the record came from.
        prompt: the messages before the last assistant turn (role + content only).
        reference: the text of the last assistant turn.
        label: the value of the ``--label`` field, when asked for and present.
    """

    id: str
    source: str
    line: int
    prompt: list[dict[str, Any]]
    reference: str
    label: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def prompt_hash(self) -> str:
        return hashlib.sha256(orjson.dumps(self.prompt, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class Skipped:
    """A test line that could not become an example, with a stable reason code."""

    source: str
    line: int
    reason: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "line": self.line,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass
class ExampleSet:
    """The examples of one file plus everything that did not become one."""

    path: str
    examples: list[Example]
    skipped: list[Skipped] = field(default_factory=list)
    n_input: int = 0
    n_beyond_limit: int = 0

    def counts(self) -> dict[str, Any]:
        reasons: dict[str, int] = {}
        for s in self.skipped:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        return {
            "path": self.path,
            "input_records": self.n_input,
            "evaluated": len(self.examples),
            "skipped": len(self.skipped),
            "skipped_by_reason": dict(sorted(reasons.items())),
            "beyond_max_examples": self.n_beyond_limit,
        }


def resolve_data_path(data: str | os.PathLike[str]) -> Path:
    """A test file as given, or ``test.jsonl`` inside a split folder."""
    path = Path(data)
    if path.is_dir():
        for name in ("test.jsonl", "test.jsonl.gz", "test.parquet"):
            if (path / name).exists():
                return path / name
        raise InputError(f"{data}: a folder without test.jsonl (expected a split folder)")
    if not path.exists():
        raise InputError(f"{data}: no such file or directory")
    return path


def _label_of(data: Mapping[str, Any], label_field: str) -> str | None:
    value: Any = data
    for part in label_field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def to_example(
    source: str, line: int, data: Any, rid: str, label_field: str | None
) -> Example | Skipped:
    """Split one canonical chat record into prompt + reference, or say why it cannot be."""
    messages = messages_of(data)
    if not messages:
        return Skipped(source, line, "no_messages", "record has no messages list")
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    if last <= 0:
        return Skipped(source, line, "no_reference", "no assistant turn with a prompt before it")
    prompt = [{"role": str(m.get("role")), "content": message_text(m)} for m in messages[:last]]
    label = _label_of(data, label_field) if label_field else None
    return Example(rid, source, line, prompt, message_text(messages[last]), label)


def load_examples(
    data: str | os.PathLike[str],
    label_field: str | None = None,
    max_examples: int | None = None,
) -> ExampleSet:
    """Read a chat JSONL file (or a split folder's test file) into an ``ExampleSet``.

    ``max_examples`` keeps the first N evaluable records, in file order (deterministic).
    """
    path = resolve_data_path(data)
    out = ExampleSet(str(path), [])
    seen: dict[str, int] = {}
    # Chat as read (a split's test file); bad lines come back to be listed as skipped.
    for item in read_chat(path, convert=False, on_bad="keep"):
        out.n_input += 1
        if isinstance(item, BadLine):
            out.skipped.append(Skipped(item.source, item.line, item.reason, item.message))
            continue
        assert isinstance(item, Record)
        if max_examples is not None and len(out.examples) >= max_examples:
            out.n_beyond_limit += 1
            continue
        rid = item.id
        # Ids key the generations file and the human sheet, so they must be unique.
        if rid in seen:
            rid = item.ref
        seen[rid] = item.line
        result = to_example(item.source, item.line, item.data, rid, label_field)
        if isinstance(result, Skipped):
            out.skipped.append(result)
        else:
            out.examples.append(result)
    return out
