"""A light per-record view the audit computes once: role texts, prompt key, final answer.

Every part of the audit (shape, languages, diversity, findings) reads these views instead of
re-walking message lists, which keeps a 100k-row audit to one pass of text extraction.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import orjson

from curate.chat import message_text, messages_of
from curate.records import Record

_NONWORD = re.compile(r"[\W_]+", re.UNICODE)
# Every ASCII byte that is not a letter or digit -> space (a bytes table: bytes.translate is a
# plain lookup, several times faster than str.translate with a mapping).
_ASCII_NONWORD = bytes(c if chr(c).isalnum() else 32 for c in range(256))


def norm(text: str) -> str:
    """Comparison form: NFKC, case-folded, every run of punctuation/space -> one space."""
    if text.isascii():
        # NFKC changes nothing in ASCII and lower() equals casefold(); after the table only
        # spaces separate words, so bytes.split() cuts where str.split() would.
        return b" ".join(text.encode("ascii").lower().translate(_ASCII_NONWORD).split()).decode()
    return _NONWORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


_ASCII_NONALNUM = bytes(c for c in range(128) if not chr(c).isalnum())


def squeezed(text: str) -> bytes | str:
    """``norm(text)`` without its spaces (bytes when ASCII): equal norms give equal keys, so
    a text whose key no other text shares has a norm no other text shares. Plain ASCII takes
    three C calls, about half of ``norm``'s cost."""
    if text.isascii():
        return text.encode("ascii").lower().translate(None, _ASCII_NONALNUM)
    key = norm(text).replace(" ", "")
    return key.encode("ascii") if key.isascii() else key


@dataclass(slots=True)
class Conv:
    """One conversation as the audit sees it.

    Attributes:
        line: the record's 1-based number in its source (``Record.line``).
        messages: the chat messages (mappings with ``role`` and ``content``).
        role_text: the texts of each role's turns joined by blank lines.
        context: every message before the final assistant turn (role-marked), the "prompt"
            whose answer is ``answer``; system prompts are part of it on purpose, since another
            system prompt may rightly ask for another answer.
        answer: the final assistant turn's text, or None when there is no assistant turn.
        assistant_turns: the text of each assistant turn.
        data: the record's data (for ``--label`` look-ups).
        row: the record's position in the audited batch (what findings name in ``rows``).
        roles: each message's role as a string (``str(m.get("role"))``).
        texts: each message's text (``curate.chat.message_text``), built once here.
    """

    line: int
    messages: list[Mapping[str, Any]]
    role_text: dict[str, str]
    context: str
    answer: str | None
    assistant_turns: list[str]
    data: Any
    row: int = -1
    roles: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def has_user(self) -> bool:
        return "user" in self.role_text

    @property
    def system(self) -> str | None:
        return self.role_text.get("system")


def to_conv(record: Record, row: int = -1) -> Conv | None:
    """The audit view of a chat record (at position ``row`` of the audited batch), or None
    when it has no usable message list."""
    data = record.data
    msgs = messages_of(data)
    if not msgs:
        return None
    raw_roles = [m.get("role") for m in msgs]
    roles = [r if type(r) is str else str(r) for r in raw_roles]
    texts = [message_text(m) for m in msgs]
    role_text = dict(zip(roles, texts, strict=False))  # (equal lengths: built together)
    # Until an assistant turn is found: no answer, and every message is context.
    answer: str | None = None
    assistant_turns: list[str] = []
    last_assistant = len(msgs)
    if len(role_text) == len(roles):  # the usual case: one turn per role, nothing to join
        if "assistant" in role_text:
            last_assistant = roles.index("assistant")
            answer = role_text["assistant"]
            assistant_turns = [answer]
    else:
        parts: dict[str, list[str]] = {}
        for role, text in zip(roles, texts, strict=True):
            parts.setdefault(role, []).append(text)
        role_text = {r: "\n\n".join(p) for r, p in parts.items()}
        if "assistant" in role_text:
            last_assistant = len(roles) - 1 - roles[::-1].index("assistant")
            assistant_turns = [t for r, t in zip(roles, texts, strict=True) if r == "assistant"]
            answer = assistant_turns[-1]
    # ``side_text(msgs[:k], "conversation")`` from the texts already built.
    marked = zip(raw_roles[:last_assistant], texts, strict=False)
    context = "\n".join([f"<{r}> {t}" for r, t in marked])
    tools = data.get("tools") if type(data) is dict or isinstance(data, Mapping) else None
    if tools:
        # The tools on offer are part of the prompt: the same question with other tools may
        # rightly get another answer (a call instead of a refusal).
        context += "\n<tools> " + orjson.dumps(tools, option=orjson.OPT_SORT_KEYS).decode()
    return Conv(
        record.line, msgs, role_text, context, answer, assistant_turns, data, row, roles, texts
    )


T = TypeVar("T")


class Lazy(Sequence[T], Generic[T]):
    """A read-only sequence of ``n`` items, each computed by ``item(i)`` when it is read (and
    not kept): the detectors that read a sample of the conversations (languages, distinct-n,
    embeddings) get views of those rows only, not of every row at once."""

    def __init__(self, n: int, item: Callable[[int], T]) -> None:
        self.n = n
        self.item = item

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> T:  # type: ignore[override]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.item(i)

    def __iter__(self) -> Iterator[T]:
        return map(self.item, range(self.n))


class Joined:
    """Texts joined into one string, each led by ``sep``, so that one search (``str.find``,
    a regex) covers them all instead of a Python loop over them; ``owner`` maps a position
    of the string back to the text holding it.

    Attributes:
        text: ``sep`` + ``sep.join(texts)``.
        ends: where each text ends in ``text`` (where the next one's ``sep`` is).
    """

    __slots__ = ("ends", "text")

    def __init__(self, texts: Sequence[str], sep: str) -> None:
        self.text = sep.join(["", *texts])
        sizes = np.fromiter(map(len, texts), np.int64, len(texts)) + len(sep)
        self.ends = np.cumsum(sizes)

    def owner(self, at: int | np.ndarray) -> Any:
        """The index of the text holding position ``at`` (or each of an array of positions);
        a text's leading ``sep`` counts as its own."""
        return self.ends.searchsorted(at, "right")


def context_key(c: Conv) -> int:
    """A 63-bit key of ``squeezed(c.context)``, the same in every process: its CRC-32 and
    length. Equal contexts (after normalisation) get equal keys; two that merely collide are
    told apart by ``conflicting_answers`` itself, so a collision costs a little work, never a
    finding (and CRC-32 is ~10x cheaper per key than a BLAKE2 digest object)."""
    key = squeezed(c.context)
    raw = key if type(key) is bytes else key.encode("utf-8", "surrogatepass")  # type: ignore[union-attr]
    return (zlib.crc32(raw) << 31) | (len(raw) & 0x7FFFFFFF)


def excerpt(text: str | None, limit: int = 300) -> str:
    """A readable, bounded excerpt for reports."""
    if not text:
        return ""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (``meta.category``; list indexes allowed: ``tags.0``)."""
    cur = data
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, Sequence) and not isinstance(cur, str) and part.isdigit():
            idx = int(part)
            if idx >= len(cur):
                return None
            cur = cur[idx]
        else:
            return None
    return cur
