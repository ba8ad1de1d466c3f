"""The one way in: ``read_chat`` reads any input, converts it to chat and applies a bad-line policy.

Every command reads through here, and each chooses, at its one call, what happens to a line
that cannot be read (``BadLine``: broken JSON, bad UTF-8, ...) and to a record that cannot be
converted to chat (no known shape, or a shape that does not fit). The table per command is in
docs/reading.md.

Policies (``on_bad``; ``on_unconvertible`` defaults to the same):

- ``reject``: the line becomes a ``Dropped`` handed to ``on_drop`` (a rejects file, a sink);
  with a ``validator`` it is also counted as an invalid record.
- ``raise``: the first one is an ``InputError`` naming ``file:line``, the reason and a hint.
- ``keep``: it is yielded as it is (a ``BadLine``, or the record as read) for the command to
  report (audit findings, eval's skipped list, train's pre-flight).

Blank lines are never yielded: the reader counts them (``stats.blank_lines``) and lists the
first thousand (``stats.blank_line_numbers``).

Example:
    rejects = []
    chat = read_chat("data.jsonl", on_drop=rejects.append)
    records = list(chat)            # canonical chat records
    chat.stats.records, chat.converter.stats()
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, Protocol

from curate.errors import InputError
from curate.fieldmap import FieldMap
from curate.formats import Converter, detect_format
from curate.records import BadLine, ReadStats, Record
from curate.shards import open_input
from curate.stage import Dropped, unreadable

Policy = Literal["reject", "raise", "keep"]
POLICIES = ("reject", "raise", "keep")


class _Source(Protocol):
    stats: ReadStats

    def __iter__(self) -> Iterator[Record | BadLine]: ...


class ChatReader:
    """Iterate the chat records of one input under one bad-line policy (see the module doc).

    Built by ``read_chat``; after iteration ``stats`` holds the reader's counts and
    ``converter`` the conversion stats (under ``detect="file"``; per-record detection keeps
    none). With ``keep_read``, ``as_read[i]`` is the i-th
    yielded record as it was read (before conversion), for commands that compare converted
    records but write the originals (dedup).
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | _Source,
        *,
        fmt: str | None = None,
        fields: FieldMap | None = None,
        convert: bool = True,
        detect: Literal["file", "record"] = "file",
        keep_unknown: bool = False,
        validator: Any = None,
        on_bad: Policy = "reject",
        on_unconvertible: Policy | None = None,
        on_drop: Callable[[Dropped], None] | None = None,
        reject_as_read: bool = False,
        keep_read: bool = False,
        prefix: str = "",
        hint: str = "",
    ) -> None:
        on_unconvertible = on_unconvertible or on_bad
        for name, policy in (("on_bad", on_bad), ("on_unconvertible", on_unconvertible)):
            if policy not in POLICIES:
                raise ValueError(f"{name}={policy!r}; expected one of {', '.join(POLICIES)}")
        if "reject" in (on_bad, on_unconvertible) and on_drop is None:
            raise ValueError("the reject policy needs on_drop")
        if validator is not None and on_drop is None:
            raise ValueError("a validator's drops go to on_drop")
        if detect not in ("file", "record"):
            raise ValueError(f"detect={detect!r}; expected file or record")
        # A path may name a folder or a glob of data files (curate.shards), as for `run`.
        self.reader: _Source = (
            open_input(source) if isinstance(source, str | os.PathLike) else source
        )
        # ConfigError here for an unknown format name, before anything is read.
        self.converter = Converter(fmt, keep_unknown=keep_unknown, fields=fields)
        self.fmt, self.fields = fmt, fields
        self.plain = fmt is None and fields is None  # chat passes through untouched
        self.convert = convert
        self.detect = detect
        self.validator = validator
        self.on_bad = on_bad
        self.on_unconvertible = on_unconvertible
        self.on_drop = on_drop
        self.reject_as_read = reject_as_read
        self.as_read: list[Record] | None = [] if keep_read else None
        self.prefix = prefix
        self.hint = hint

    @property
    def stats(self) -> ReadStats:
        """The reader's counts (complete once iteration has finished)."""
        return self.reader.stats

    def _raise(self, ref: str, reason: str, message: str) -> InputError:
        return InputError(f"{self.prefix}{ref}: {reason}: {message}{self.hint}")

    def _convert(self, record: Record) -> Record | Dropped:
        if self.detect == "record":
            # Each record by its own shape (no file format): what split and dedup compare.
            data = record.data
            if self.plain and type(data) is dict and "messages" in data:
                return record
            return Converter(self.fmt, fields=self.fields)(record)
        return self.converter(record)

    def __iter__(self) -> Iterator[Record | BadLine]:
        items: Iterable[Record | BadLine] = self.reader
        if self.convert and self.detect == "file":
            items = self.converter.prime(items)
        validator, on_drop, as_read = self.validator, self.on_drop, self.as_read
        # Per record: one call into the converter under file detection (``_convert`` adds
        # a second call that only picks it), no attribute look-ups for the settings.
        convert = (
            (self.converter if self.detect == "file" else self._convert) if self.convert else None
        )
        for item in items:
            if type(item) is BadLine:
                if self.on_bad == "keep":
                    yield item
                elif self.on_bad == "raise":
                    raise self._raise(item.ref, item.reason, item.message)
                else:
                    assert on_drop is not None
                    on_drop(unreadable(item) if validator is None else validator.reject(item))
                continue
            record = item
            if convert is not None:
                done = convert(item)
                if type(done) is Dropped:
                    if self.on_unconvertible == "keep":
                        done = item
                    elif self.on_unconvertible == "raise":
                        raise self._raise(item.ref, done.reason, done.detail)
                    else:
                        assert on_drop is not None
                        on_drop(done if validator is None else validator.reject(done))
                        continue
                record = done  # type: ignore[assignment]
            if validator is not None:
                checked = validator(record)
                if type(checked) is Dropped:
                    if self.reject_as_read:  # the rejects line holds the record as read
                        checked = Dropped(
                            item, checked.stage, checked.reason, checked.detail, checked.extra
                        )
                    assert on_drop is not None
                    on_drop(checked)
                    continue
            if as_read is not None:
                as_read.append(item)
            yield record


def read_chat(
    source: str | os.PathLike[str] | _Source,
    *,
    fmt: str | None = None,
    fields: FieldMap | None = None,
    convert: bool = True,
    detect: Literal["file", "record"] = "file",
    keep_unknown: bool = False,
    validator: Any = None,
    on_bad: Policy = "reject",
    on_unconvertible: Policy | None = None,
    on_drop: Callable[[Dropped], None] | None = None,
    reject_as_read: bool = False,
    keep_read: bool = False,
    prefix: str = "",
    hint: str = "",
) -> ChatReader:
    """Read ``source`` as canonical chat records, lazily, under one bad-line policy.

    Args:
        source: a path (any container ``RecordReader`` knows, ``-`` for stdin, or a folder
            or glob of such files, read one after the other as ``curate.shards.open_input``
            does) or an open reader with ``stats``.
        fmt: the source format (``--from``); ``None`` detects it.
        fields: a ``FieldMap`` for other layouts (exclusive with ``fmt``).
        convert: ``False`` yields records as read (train and eval take chat as it is).
        detect: ``file``: one format per file (each file of a folder its own), by a
            majority over its first 1,000 records (a record of another shape is
            unconvertible); ``record``: each record by its own shape.
        keep_unknown: records of no known shape pass through unconverted (the validator then
            reports them as ``missing_messages``, as OpenAI's checker does).
        validator: a ``curate.validate.Validator``; every converted record goes through it,
            and bad lines and conversion drops are counted as invalid records by it too.
        on_bad: what happens to a line that cannot be read: ``reject`` | ``raise`` | ``keep``.
        on_unconvertible: the same for a record that cannot be converted (default: ``on_bad``).
        on_drop: receives every ``Dropped`` under ``reject`` (and the validator's drops).
        reject_as_read: a validator's drop carries the record as read, not as converted.
        keep_read: keep each yielded record as read in ``as_read`` (same order).
        prefix, hint: text before and after the ``InputError`` message under ``raise``.

    Raises:
        InputError: the input cannot be opened (at once) or, under ``raise``, a bad line
            (while iterating). ConfigError: an unknown format name.
    """
    return ChatReader(
        source,
        fmt=fmt,
        fields=fields,
        convert=convert,
        detect=detect,
        keep_unknown=keep_unknown,
        validator=validator,
        on_bad=on_bad,
        on_unconvertible=on_unconvertible,
        on_drop=on_drop,
        reject_as_read=reject_as_read,
        keep_read=keep_read,
        prefix=prefix,
        hint=hint,
    )


def chat_view(record: Record) -> Record:
    """``record`` as chat when its own shape converts, else unchanged (for comparing only).

    For code that gets records as read and must compare them as chat but write them as read
    (the Ray engine's ``curate dedup``); the local commands convert in ``read_chat``.
    """
    data = record.data
    if type(data) is dict and "messages" in data:
        return record
    if detect_format(data) == "unknown":
        return record
    done = Converter()(record)
    return record if isinstance(done, Dropped) else done
