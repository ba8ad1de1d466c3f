"""Streaming readers and atomic writers for fine-tuning data.

Every input line ends up somewhere: a ``Record`` (parsed object), a ``BadLine`` (a line that
could not become a record, with a reason code), or a counted blank line. Nothing is skipped
silently. Readers stream: memory does not grow with the file (one line, or one array element,
at a time).

Supported inputs: JSONL (``.jsonl``/``.json`` with one object per line), ``.gz`` of those,
a top-level JSON array (``[{...}, {...}]``, as most Alpaca/ShareGPT exports are), Parquet,
a Hugging Face dataset folder written by ``save_to_disk``, and ``-`` for stdin.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import glob
import gzip
import io
import itertools
import json
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from curate.errors import InputError

BOM = b"\xef\xbb\xbf"
ARRAY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed input record.

    Attributes:
        source: the input path as given (``-`` for stdin).
        line: 1-based position in the source: the physical line for JSONL, the element
            index + 1 for a JSON array, the row number + 1 for Parquet / HF datasets.
        data: the parsed JSON object (never mutated by stages; they build new records).
        text_line: for JSON arrays, the physical line where the element starts (else == line).
    """

    source: str
    line: int
    data: Any
    text_line: int = 0
    # ``data`` as its orjson bytes while the parsed object is dropped (``pack``): None when
    # the record holds its parsed object, as every record does until ``curate run`` packs it.
    # Not an init field: a new record (``Record(...)``, ``dataclasses.replace``) holds the
    # data it is given, never bytes of some other data.
    packed: bytes | None = field(default=None, init=False, compare=False, repr=False)

    def __getattr__(self, name: str) -> Any:
        # Reached only when a slot is unset: ``data`` of a packed record, parsed again on each
        # access (never kept: the point of packing is that the parsed object is not held).
        if name == "data":
            packed = self.packed
            if packed is not None:
                return orjson.loads(packed)
        raise AttributeError(f"'Record' object has no attribute '{name}'")

    # A packed record is copied and pickled as its bytes (the generated pair would read
    # ``data``, parsing it, and the copy would hold both the object and the bytes).
    def __getstate__(self) -> tuple[Any, ...]:
        packed = self.packed
        data = None if packed is not None else self.data
        return self.source, self.line, data, self.text_line, packed

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        source, line, data, text_line, packed = state
        put = object.__setattr__
        put(self, "source", source)
        put(self, "line", line)
        put(self, "text_line", text_line)
        put(self, "packed", packed)
        if packed is None:
            put(self, "data", data)

    @property
    def ref(self) -> str:
        """``source:line``, the human handle used in reports."""
        return f"{self.source}:{self.line}"

    @property
    def id(self) -> str:
        """The record's own ``id`` field when it has one, else ``source:line``."""
        data = self.data  # (once: a packed record parses on each access)
        if isinstance(data, dict):
            value = data.get("id")
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
        return self.ref

    def with_data(self, data: Any) -> Record:
        """A new record at the same position with other data (for conversions)."""
        return Record(self.source, self.line, data, self.text_line)


def _plain_json(value: Any) -> bool:
    """Whether ``value`` is made only of the types orjson reads back as themselves: dict
    (str keys), list, str, int (64 bits), finite float, bool, None. A tuple, a NaN, a date
    or a numpy value (Parquet, HF datasets) would come back as something else."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is dict:
            for k in v:
                if type(k) is not str:
                    return False
            stack.extend(v.values())
        elif t is list:
            stack.extend(v)
        elif t is str or t is bool or v is None:
            continue
        elif t is int:
            if not INT_MIN <= v <= INT_MAX:
                return False
        elif t is float:
            if not math.isfinite(v):
                return False
        else:
            return False
    return True


def read_as_json_text(source: str) -> bool:
    """Whether ``RecordReader(source)`` reads JSON text (JSONL, a JSON array, JSON values),
    whose records orjson parsed: stdin, or a file that is not Parquet (the reader's own
    rule). Such records (and what conversion builds from them) hold only JSON's own types,
    so ``pack`` need not walk them. False for Parquet, a Hugging Face dataset folder, and a
    path that is no file (any more): those records are walked.

    Decided per source, i.e. per shard of a folder: a folder's ``ReadStats.format`` is the
    shards' formats summed, and counts a shard only once it has been read.
    """
    return container_of(source) == "text" and (source == "-" or Path(source).is_file())


def container_of(source: str) -> str:
    """How ``RecordReader`` reads ``source``: ``hf_dataset`` (a folder), ``parquet``, or
    ``text`` (stdin, JSONL, a JSON array, JSON values, gzipped or not). One rule for the
    reader and for ``read_as_json_text``."""
    if source == "-":
        return "text"
    path = Path(source)
    if path.is_dir():
        return "hf_dataset"
    return "parquet" if path.suffix == ".parquet" else "text"


def pack(record: Record, from_json_text: bool = False) -> bool:
    """Keep ``record.data`` as its orjson bytes and drop the parsed object, in place.

    The same ``Record`` object stays in every list that holds it; ``record.data`` parses the
    bytes again on each access and gives an equal object. A parsed chat record takes about
    twice the memory of its JSON text (2.26 against 1.22 KB a row on the bench file), so a
    run that must hold every record through its long steps holds them packed. A record
    whose data would not read back as itself (see ``_plain_json``) stays parsed. Returns
    whether the record is packed.

    ``from_json_text``: the record was read from JSON text (``read_as_json_text`` of its
    source) and at most converted: its values are JSON's own (orjson's reader refuses NaN,
    Infinity and integers beyond 64 bits), so the walk over them (~1.8 us a chat record,
    more than the dump) is skipped.
    """
    if record.packed is not None:
        return True
    data = record.data
    if not from_json_text and not _plain_json(data):
        return False
    try:
        text = orjson.dumps(data)
    except orjson.JSONEncodeError:  # a lone surrogate in a str
        return False
    # orjson's result keeps its whole write buffer (~8 KB); an exact-size copy does not.
    object.__setattr__(record, "packed", bytes(memoryview(text)))
    object.__delattr__(record, "data")
    return True


@functools.lru_cache(maxsize=64)
def _last_member(key: str) -> tuple[int, re.Pattern[bytes]]:
    """For ``last_string_member``: the length of ``key`` as orjson writes it, and a pattern
    for ``key`` as the last member of an object, with a plain string value."""
    name = orjson.dumps(key)
    return len(name), re.compile(rb"[,{]" + re.escape(name) + rb':"([^"\\]*)"}\Z')


def last_string_member(record: Any, key: str) -> str | None:
    """``record.data[key]`` read from a packed record's bytes, without parsing them, when
    that member is the top-level object's last one and its value a plain string (no
    escapes); else None (not packed, or not found this way), and the caller reads
    ``record.data`` itself: one parse, never two.

    orjson writes such a member as ``,"key":"value"}`` at the very end. A quote that follows
    ``,`` or ``{`` is a real one (inside a JSON string every quote is escaped), so this is
    the top-level object's last member.
    """
    packed = getattr(record, "packed", None)
    if packed is None or not packed.endswith(b'"}'):
        return None
    size, pattern = _last_member(key)
    start = packed.rfind(b'"', 0, len(packed) - 2)  # the value's opening quote
    found = pattern.match(packed, start - size - 2) if start > size else None
    return found.group(1).decode() if found is not None else None


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that could not become a record.

    ``reason`` is a stable code: ``json_decode``, ``invalid_utf8``, ``too_deep``,
    ``not_an_object``.
    """

    source: str
    line: int
    reason: str
    message: str
    raw: str = ""

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(slots=True)
class ReadStats:
    """Counts kept while reading, so a manifest can prove nothing was lost."""

    format: str = "unknown"
    physical_lines: int = 0
    blank_lines: int = 0
    records: int = 0
    bad_lines: int = 0
    blank_line_numbers: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "container": self.format,
            "physical_lines": self.physical_lines,
            "blank_lines": self.blank_lines,
            "records": self.records,
            "bad_lines": self.bad_lines,
        }


MAX_BLANK_LINE_NUMBERS = 1000
RAW_PREVIEW = 200

# The deepest record we accept. orjson writes at most 254 levels of nesting and a rejects line
# wraps the record in one more object, so a deeper record could be read but never written
# (issue 10 item 11): it is rejected when read, with this limit in the message.
MAX_DEPTH = 250
# A record (one JSONL line or array element) larger than this is rejected as
# ``record_too_large`` when read: nothing later (tokenising, embedding, shingling) has to hold
# it, so peak memory stays a small multiple of this limit whatever the file holds. 4 MiB is
# about a million tokens of text, far past any model's context.
MAX_RECORD_BYTES = 4 * 1024 * 1024
# Integers every writer can hold exactly (orjson: i64 and u64). orjson *reads* larger ones as
# floats, silently changing the value, so they are rejected instead.
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
# A JSON number of 19+ digits may be out of range: only such lines get the exact check.
# (A plain substring search in the scan below: several times faster than the regex \d{19}
# on every line.)
_DIGITS_19 = b"0" * 19
# One scan for both cheap checks: digits to "0", "[" and "{" to "[", the rest to " ". Its
# count of "[" is the line's count of "[" and "{"; its runs of "0" are the digit runs. One
# copy of the line instead of three passes over it (~20% of the reader's own checks); the
# reader makes it and hands it to ``_unwritable``.
_SCAN_MAP = bytes(48 if 48 <= i <= 57 else 91 if i in (91, 123) else 32 for i in range(256))
_NUMBER = re.compile(rb"-?\d+(\.\d*)?([eE][-+]?\d+)?")
_NUMBER_TEXT = re.compile(_NUMBER.pattern.decode())
_NON_JSON_CONSTANT = re.compile(rb"-?(NaN|Infinity)")

# Reason codes a reader gives (stable; the validate docs list them with their meaning).
READ_REASONS = (
    "json_decode",
    "invalid_utf8",
    "too_deep",
    "not_an_object",
    "integer_out_of_range",
    "number_out_of_range",
    "lone_surrogate",
    "unwritable_value",
    "record_too_large",
)


class _Unwritable(Exception):
    """A parsed value that the writers cannot reproduce exactly (reason, message)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _depth(value: Any) -> int:
    """Nesting depth of a parsed value (an object or array counts one level), iteratively."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = v.values()
        elif not isinstance(v, list):
            continue
        deepest = max(deepest, d)
        stack.extend((child, d + 1) for child in v if isinstance(child, dict | list))
    return deepest


def _check_int(text: str) -> int:
    digits = text.lstrip("-")
    # Compare as text first: int() refuses 4,301+ digit strings (CVE-2020-10735 guard).
    if len(digits) > 20 or not INT_MIN <= int(text) <= INT_MAX:
        shown = text if len(text) <= 40 else f"{text[:20]}...({len(digits)} digits)"
        raise _Unwritable(
            "integer_out_of_range",
            f"integer {shown} is outside the 64-bit range every output can hold exactly",
        )
    return 0


def _unwritable(raw: bytes, value: Any, scan: bytes | None = None) -> tuple[str, str] | None:
    """Why a value orjson parsed cannot be kept exactly, or None.

    One cheap byte scan (``scan``: ``raw.translate(_SCAN_MAP)``, made here when not given)
    decides whether the exact (slow) checks are needed at all.
    """
    if scan is None:
        scan = raw.translate(_SCAN_MAP)
    if scan.count(b"[") > MAX_DEPTH:
        depth = _depth(value)
        if depth > MAX_DEPTH:
            return "too_deep", f"JSON nested {depth} levels deep (the limit is {MAX_DEPTH})"
    if _DIGITS_19 in scan:
        try:
            json.loads(
                raw, parse_int=_check_int, parse_float=lambda _s: 0, parse_constant=lambda _s: 0
            )
        except _Unwritable as exc:
            return exc.reason, exc.message
        except (ValueError, RecursionError):
            pass  # orjson accepted it; only the range matters here
    return None


def _classify(raw: bytes, exc: orjson.JSONDecodeError) -> tuple[str, str]:
    """A stable reason code and a message for a line orjson refused."""
    msg = str(exc)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as uexc:
        return "invalid_utf8", f"invalid UTF-8 at byte {uexc.start}"
    low = msg.lower()
    if "recursion" in low or "depth limit" in low:
        return "too_deep", f"JSON nested deeper than 1024 levels (the limit is {MAX_DEPTH})"
    if "surrogate" in low:
        return "lone_surrogate", f"a \\u escape is half of a surrogate pair, not text: {msg}"
    at = text[exc.pos : exc.pos + 40].encode()  # orjson's pos counts characters
    if "infinity" in low:
        number = _NUMBER_TEXT.match(text, exc.pos)
        if number and not number.group(1) and not number.group(2):
            return _check_int_reason(number.group())
        return "number_out_of_range", f"number too large for a 64-bit float: {msg}"
    if _NON_JSON_CONSTANT.match(at):
        return "json_decode", f"NaN and Infinity are not JSON: {msg}"
    return "json_decode", msg


def _check_int_reason(text: str) -> tuple[str, str]:
    try:
        _check_int(text)
    except _Unwritable as exc:
        return exc.reason, exc.message
    return "json_decode", f"unreadable number {text}"


def parse_record(raw: bytes) -> tuple[Any, str, str]:
    """Parse one JSON text under the rules every container shares.

    Returns ``(value, reason, message)``; ``reason`` is ``''`` on success. Refused: invalid
    JSON (NaN/Infinity included), invalid UTF-8, lone surrogate escapes, nesting deeper than
    ``MAX_DEPTH``, integers outside 64 bits and numbers beyond float range: everything a
    writer could not write back exactly.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, *_classify(raw, exc)
    problem = _unwritable(raw, value)
    if problem is not None:
        return None, *problem
    return value, "", ""


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


_WS = frozenset(b" \t\r\n\f\v")
# What surrogateescape decoding makes of an invalid UTF-8 byte.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
# Structural tokens for resynchronising after a bad array element. A string ends at its
# closing quote, at a raw newline (which JSON strings cannot hold: limits the damage of a
# stray quote to one line) or at the end of the buffer (then more text is needed).
# A line that starts a new array element: ",", a line end, indentation, then "{" or "[".
_NEXT_ELEMENT = re.compile(r",[ \t]*\r?\n(?:[ \t]*\r?\n)*([ \t]*)[\[{]")
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*(?:"|\n|\\?\Z)|[\[\]{},]', re.S)


class RecordReader:
    """Iterate the records of one input, yielding ``Record`` or ``BadLine`` objects.

    After iteration, ``stats`` holds the counts. Raises ``InputError`` when the input
    cannot be opened at all (missing file, unknown container).

    Example:
        reader = RecordReader("data.jsonl")
        for item in reader:
            ...
        print(reader.stats.blank_lines)
    """

    def __init__(self, path: str | os.PathLike[str], max_record_bytes: int | None = None) -> None:
        self.path = str(path)
        self.stats = ReadStats()
        self.max_record_bytes = max_record_bytes or MAX_RECORD_BYTES
        self.strings = SharedStrings()
        if self.path != "-":
            p = Path(self.path)
            if not p.exists():
                raise InputError(f"{self.path}: no such file or directory")
            if p.is_dir() and not _is_hf_dataset_dir(p):
                raise InputError(
                    f"{self.path}: is a directory but not a Hugging Face dataset "
                    "(no dataset_info.json / dataset_dict.json)"
                )

    def __iter__(self) -> Iterator[Record | BadLine]:
        if self.path == "-":
            yield from self._read_text_stream(sys.stdin.buffer)
            return
        p = Path(self.path)
        container = container_of(self.path)
        if container == "hf_dataset":
            yield from self._read_hf(p)
        elif container == "parquet":
            yield from self._read_parquet(p)
        else:
            opener = gzip.open if gzipped(p) else open
            try:
                with opener(p, "rb") as fh:
                    yield from self._read_text_stream(fh)
            except (OSError, EOFError) as exc:
                raise InputError(f"{self.path}: cannot read: {exc}") from exc

    def _too_large(self, size: int) -> tuple[str, str]:
        return (
            "record_too_large",
            f"record of {size:,} bytes is over the {self.max_record_bytes:,}-byte limit",
        )

    def records(self) -> Iterator[Record]:
        """Only the records, raising ``InputError`` on the first bad line (for strict callers)."""
        for item in self:
            if isinstance(item, BadLine):
                raise InputError(f"{item.ref}: {item.reason}: {item.message}")
            yield item

    # -- JSONL / JSON array ------------------------------------------------------------

    def _read_text_stream(self, fh: IO[bytes]) -> Iterator[Record | BadLine]:
        buffered = fh if isinstance(fh, io.BufferedReader) else io.BufferedReader(fh)  # type: ignore[arg-type]
        head = buffered.peek(4096)[:4096]
        start = BOM if head.startswith(BOM) else b""
        first = head[len(start) :].lstrip()[:1]
        if start:
            buffered.read(len(BOM))
        if first == b"[":
            self.stats.format = "json_array"
            yield from self._read_array(buffered)
        elif _pretty_printed(head[len(start) :]):
            self.stats.format = "json_values"
            yield from self._read_array(buffered, array=False)
        else:
            self.stats.format = "jsonl"
            yield from self._read_jsonl(buffered)

    def _read_jsonl(self, fh: IO[bytes]) -> Iterator[Record | BadLine]:
        stats = self.stats
        path = self.path
        loads = orjson.loads
        share = self.strings.share
        limit = self.max_record_bytes
        for lineno, raw in enumerate(_lines(fh), start=1):
            stats.physical_lines = lineno
            # Only a line that starts with whitespace can be blank: skip strip()'s copy.
            if not raw or raw[0] in _WS and not raw.strip():
                stats.blank_lines += 1
                if len(stats.blank_line_numbers) < MAX_BLANK_LINE_NUMBERS:
                    stats.blank_line_numbers.append(lineno)
                continue
            if len(raw) > limit:
                stats.bad_lines += 1
                yield BadLine(path, lineno, *self._too_large(len(raw)), _text(raw))
                continue
            try:
                value = loads(raw)
            except orjson.JSONDecodeError as exc:
                reason, message = _classify(raw, exc)
                stats.bad_lines += 1
                # The whole line goes to rejects, so nothing is lost (bad bytes: U+FFFD).
                yield BadLine(path, lineno, reason, message, _text(raw))
                continue
            # One cheap scan decides whether the exact checks (depth, integer range) are due.
            scan = raw.translate(_SCAN_MAP)
            if scan.count(b"[") > MAX_DEPTH or _DIGITS_19 in scan:
                problem = _unwritable(raw, value, scan)
                if problem is not None:
                    stats.bad_lines += 1
                    yield BadLine(path, lineno, *problem, _text(raw))
                    continue
            if type(value) is dict:
                stats.records += 1
                yield Record(path, lineno, share(value), lineno)
            else:
                stats.bad_lines += 1
                yield BadLine(
                    path,
                    lineno,
                    "not_an_object",
                    f"expected a JSON object, got {type(value).__name__}",
                    _text(raw),
                )

    def _read_array(self, fh: IO[bytes], array: bool = True) -> Iterator[Record | BadLine]:
        """Stream the elements of a top-level JSON array without loading the whole file.

        ``raw_decode`` on a growing buffer finds where each element ends; the element's text
        is then parsed by ``parse_record``, the same rules as a JSONL line. A bad element
        (syntax error, too deep) is skipped up to the next comma at nesting depth 0, so the
        rest of the array still reads. With ``array=False`` the file is a sequence of
        whitespace-separated JSON values instead (pretty-printed records, as ``jq .`` or
        ``json.dump(indent=2)`` write them), numbered the same way.
        """
        # Only the boundaries matter here: skip building ints/floats (int() also refuses
        # 4,301+ digit numbers, a crash before).
        decoder = json.JSONDecoder(parse_int=_ignore, parse_float=_ignore, parse_constant=_ignore)
        # Invalid bytes become lone surrogates, so one bad element is a finding and the rest
        # of the array still reads.
        reader = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
        buf = ""
        pos = 0
        line = 1  # physical line at buf[pos]
        eof = False
        index = 0
        stats = self.stats

        def fill() -> bool:
            nonlocal buf, pos, eof
            if eof:
                return False
            chunk = reader.read(ARRAY_CHUNK)
            if not chunk:
                eof = True
                return False
            buf = buf[pos:] + chunk
            pos = 0
            return True

        def skip_ws() -> None:
            nonlocal pos, line
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    if buf[pos] == "\n":
                        line += 1
                    pos += 1
                if pos < len(buf) or not fill():
                    return

        limit = self.max_record_bytes

        def fallback() -> int:
            """Where the next element starts when the bad one's brackets never balance.

            The first later line that opens an object or array after a comma, no more indented
            than the bad element: how JSONL-like and pretty-printed arrays lay elements out.
            Else the rest of what was read is this one bad element.
            """
            column = len(buf[buf.rfind("\n", 0, pos) + 1 : pos].expandtabs())
            for m in _NEXT_ELEMENT.finditer(buf, pos):
                if len(m.group(1).expandtabs()) <= column:
                    return m.start()
            return len(buf)

        def next_char(rel: int) -> tuple[str, int]:
            """The first non-blank character at or after ``buf[pos + rel]`` ('' at the end),
            and its offset from ``pos`` (offsets from ``pos`` survive a refill)."""
            while True:
                k = pos + rel
                while k < len(buf) and buf[k] in " \t\r\n":
                    k += 1
                if k < len(buf):
                    return buf[k], k - pos
                rel = k - pos
                if not fill():
                    return "", rel

        def bad_end() -> int:
            """End of the bad element at ``pos``: the next comma (or ``]``) at depth 0."""
            depth = 0
            i = pos
            # No element reaches past a line that starts the next one (see fallback): this
            # bounds the bracket count of an element whose brackets never balance.
            stop = fallback() if array else len(buf)
            while True:
                m = _TOKEN.search(buf, i, stop)
                if m is None and stop < len(buf):
                    return stop
                if m is None or (m.group()[0] == '"' and m.end() == len(buf) and not eof):
                    # No token yet, or a string cut by the buffer end: read on.
                    shift = pos  # fill() drops buf[:pos]: offsets move back by that
                    resume = m.start() if m is not None else len(buf)
                    if fill():
                        i = resume - shift
                        stop = fallback() if array else len(buf)
                        continue
                    return fallback()
                if m.start() - pos > limit:
                    return fallback()  # unbalanced brackets: stop counting them
                tok = m.group()
                c = tok[0]
                if c in "[{":
                    if (
                        not array
                        and depth == 0
                        and m.start() > pos
                        and buf[pos : m.start()].strip()
                    ):
                        return m.start()  # a bad scalar before the next value
                    depth += 1
                elif c in "]}":
                    if depth:
                        depth -= 1
                        if depth == 0 and not array:
                            return m.end()
                    elif c == "]" and array:
                        at, after = m.start() - pos, m.end() - pos  # next_char may refill
                        if next_char(after)[0] != ",":
                            return pos + at
                        i = pos + after  # a stray "]" inside the bad element
                        continue
                elif c == "," and depth == 0 and array:
                    return m.start()
                i = m.end()

        skip_ws()
        if array:
            assert buf[pos] == "["
            pos += 1
        expect_value = True
        while True:
            skip_ws()
            if pos >= len(buf):
                if array:
                    stats.bad_lines += 1
                    yield BadLine(self.path, index + 1, "json_decode", "unterminated JSON array")
                break
            ch = buf[pos]
            if ch == "]" and array:
                pos += 1
                skip_ws()
                if pos < len(buf):
                    stats.bad_lines += 1
                    yield BadLine(
                        self.path,
                        index + 1,
                        "json_decode",
                        f"data after the end of the JSON array (file line {line})",
                        buf[pos : pos + RAW_PREVIEW],
                    )
                break
            if ch == "," and not expect_value and array:
                pos += 1
                expect_value = True
                continue
            start_line = line
            while True:
                try:
                    _, end = decoder.raw_decode(buf, pos)
                    error = ""
                    break
                except RecursionError:
                    error = "too_deep"
                except json.JSONDecodeError as exc:
                    # An element cut by the buffer end needs more text; an error well inside
                    # the buffer is a bad element.
                    near_end = exc.pos >= len(buf) - 16 or exc.msg.startswith("Unterminated")
                    if near_end and fill():
                        continue
                    error = f"{exc.msg} (file line {start_line + buf.count(chr(10), pos, exc.pos)})"
                end = bad_end()
                break
            if array and not error:
                # A valid value must be followed by "," or the closing "]" (a "]" followed by
                # "," is a stray one, and the element around it is bad).
                rel_end = end - pos
                c, rel = next_char(rel_end)
                stray = c not in (",", "]", "") or (c == "]" and next_char(rel + 1)[0] == ",")
                end = pos + rel_end
                if stray:
                    where = start_line + buf.count("\n", pos, pos + rel)
                    error = f"unexpected {c!r} after a value (file line {where})"
                    end = bad_end()
            text = buf[pos:end]
            line += text.count("\n")
            pos = end
            index += 1
            expect_value = False
            if error:
                stats.bad_lines += 1
                if error == "too_deep":
                    reason = "too_deep"
                    message = f"nested deeper than {MAX_DEPTH} levels (file line {start_line})"
                else:
                    reason, message = "json_decode", error
                if not text.strip():
                    message = f"empty array element (file line {start_line})"
                # The whole element goes to rejects (nothing is lost), unless it is huge.
                keep = text if len(text) <= self.max_record_bytes else text[:RAW_PREVIEW]
                yield BadLine(self.path, index, reason, message, _safe(keep))
            elif _ESCAPED_BYTE.search(text):
                stats.bad_lines += 1
                yield BadLine(
                    self.path,
                    index,
                    "invalid_utf8",
                    f"array element {index} (file line {start_line}) has invalid UTF-8",
                    _safe(text),
                )
            elif len(text) > self.max_record_bytes:  # characters: a lower bound on bytes
                stats.bad_lines += 1
                reason, message = self._too_large(len(text.encode("utf-8")))
                yield BadLine(self.path, index, reason, message, text)
            else:
                raw = text.encode("utf-8")
                value, reason, message = parse_record(raw)
                if reason:
                    stats.bad_lines += 1
                    yield BadLine(
                        self.path,
                        index,
                        reason,
                        f"array element {index} (file line {start_line}): {message}",
                        text[:RAW_PREVIEW] if len(text) > 100_000 else text,
                    )
                elif type(value) is dict:
                    stats.records += 1
                    yield Record(self.path, index, self.strings.share(value), start_line)
                else:
                    stats.bad_lines += 1
                    yield BadLine(
                        self.path,
                        index,
                        "not_an_object",
                        f"array element {index} is a {type(value).__name__}, not an object",
                        text[:RAW_PREVIEW],
                    )
            if pos > ARRAY_CHUNK:
                buf = buf[pos:]
                pos = 0
        stats.physical_lines = line
        # Hand the byte stream back to its owner (the `with` in __iter__): a wrapper left to
        # the garbage collector raises ResourceWarning, an error under pytest.
        reader.detach()

    # -- columnar ----------------------------------------------------------------------

    def _read_parquet(self, p: Path) -> Iterator[Record | BadLine]:
        import pyarrow.parquet as pq

        self.stats.format = "parquet"
        try:
            pf = pq.ParquetFile(p)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise InputError(f"{self.path}: not a readable Parquet file: {exc}") from exc
        features = _hf_json_features(pf.schema_arrow.metadata)
        row = 0
        for batch in pf.iter_batches(batch_size=1024):
            for obj in batch.to_pylist():
                row += 1
                yield self._columnar(self.path, row, obj, features)
        self.stats.physical_lines = row

    def _read_hf(self, p: Path) -> Iterator[Record | BadLine]:
        import datasets

        self.stats.format = "hf_dataset"
        try:
            ds = datasets.load_from_disk(str(p))
        except (FileNotFoundError, ValueError) as exc:
            raise InputError(f"{self.path}: cannot load dataset: {exc}") from exc
        splits = ds.items() if isinstance(ds, datasets.DatasetDict) else [("", ds)]
        row = 0
        for split_name, split in splits:
            source = f"{self.path}[{split_name}]" if split_name else self.path
            for i, obj in enumerate(split, start=1):
                row += 1
                yield self._columnar(source, i, obj)
        self.stats.physical_lines = row

    def _columnar(
        self, source: str, row: int, obj: Any, features: dict[str, Any] | None = None
    ) -> Record | BadLine:
        try:
            data = from_columnar(obj)
        except _Unwritable as exc:
            self.stats.bad_lines += 1
            return BadLine(source, row, exc.reason, f"row {row}: {exc.message}")
        if features is not None:
            data = _decode_hf_json(data, features)
        self.stats.records += 1
        return Record(source, row, self.strings.share(data) if type(data) is dict else data, row)


def gzipped(path: Path) -> bool:
    """Whether the reader takes ``path`` for gzip-compressed JSONL (by its suffix)."""
    return path.suffix == ".gz"


# Short values that repeat across records (roles, categories) are kept once: a run
# holds every record until it writes, and a parser makes each value a new string (~55 bytes
# for "assistant"; ~0.23 KB of the ~2.3 KB a bench record takes parsed, see docs/dedup.md).
SHARED_MAX_CHARS = 32
SHARED_MAX_VALUES = 4096


class SharedStrings:
    """One reader's table of the short values its records repeat (``share``).

    A value enters the table the second time it is seen (its first copy, which the first
    record keeps), so values that never repeat (ids like ``"r123"``) cannot fill it and starve
    the ones that do (a category, a role first seen late); the values seen once are forgotten
    each ``SHARED_MAX_VALUES`` new ones, which bounds them too. A table per reader: one
    file's values do not use up another's room.
    """

    def __init__(self) -> None:
        self.kept: dict[str, str] = {}
        self.seen_once: dict[str, str] = {}  # each value's first copy, until it repeats

    def _one_copy(self, value: str) -> str:
        kept = self.kept.get(value)
        if kept is not None:
            return kept
        once = self.seen_once
        first = once.get(value)
        if first is None:
            if len(once) >= SHARED_MAX_VALUES:
                once.clear()
            once[value] = value
            return value
        if len(self.kept) < SHARED_MAX_VALUES:
            del once[value]
            self.kept[value] = first
        return first

    def share(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with its short top-level string values, and the roles of the objects in
        its top-level lists of objects (the messages), replaced by one shared equal string.
        Values are equal, so nothing a stage reads or writes changes; only the copies go.
        (Only ``role`` inside the lists: reading every value of every message cost twice as
        much, ~1 us a record; and only lists whose first item is an object: pre-tokenized
        rows hold lists of thousands of integers, which a walk paid for once each.)"""
        limit = SHARED_MAX_CHARS
        shared = self.kept.get  # the common case, a value seen before, without a call of ours
        one_copy = self._one_copy
        for key, value in data.items():
            kind = type(value)
            if kind is str:
                if len(value) <= limit:
                    data[key] = shared(value) or one_copy(value)
            elif kind is list and value and type(value[0]) is dict:
                for item in value:
                    if type(item) is dict:
                        role = item.get("role")
                        if type(role) is str and len(role) <= limit:
                            item["role"] = shared(role) or one_copy(role)
        return data


def _ignore(_text: str) -> int:
    return 0


def _safe(text: str) -> str:
    """Text that surrogateescape decoding produced, with each invalid byte as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _lines(fh: IO[bytes]) -> Iterator[bytes]:
    """The lines of a binary stream, ending at LF, CRLF or a lone CR.

    A carriage return not followed by a newline ends a line too (old Mac exports; JSON
    strings cannot hold a raw CR, so it is never part of a value's text). U+2028/U+2029 are
    not line ends in JSONL and stay inside their line.
    """
    for chunk in fh:
        cr = chunk.find(b"\r")
        if cr == -1 or cr >= len(chunk) - 2 and chunk.endswith((b"\r\n", b"\r")):
            yield chunk
        else:
            yield from _split_cr(chunk)


def _split_cr(chunk: bytes) -> list[bytes]:
    """Split one ``\\n``-terminated chunk at lone CRs (CRLF stays one line end)."""
    body = chunk[:-1] if chunk.endswith(b"\n") else chunk
    body = body[:-1] if body.endswith(b"\r") else body
    return body.split(b"\r")


def _pretty_printed(head: bytes) -> bool:
    """True when the first non-blank line is a lone ``{``: indented JSON, not JSONL."""
    for line in head.splitlines():
        if line.strip():
            return line.strip() == b"{"
    return False


class _TooDeep:
    pass


_TOO_DEEP = _TooDeep()


_PLAIN_SCALARS = (str, int, bool)


def _plain(obj: Any, depth: int = 1) -> Any:
    """Drop the ``None`` fill that columnar formats add for keys a row did not have.

    Raises ``_Unwritable`` for what JSON cannot hold exactly (NaN, bytes, nesting deeper
    than ``MAX_DEPTH``...): the same rules as for JSON text.
    """
    if isinstance(obj, dict | list):
        if depth > MAX_DEPTH:
            raise _Unwritable("too_deep", f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(obj, dict):
            return {k: _plain(v, depth + 1) for k, v in obj.items() if v is not None}
        return [_plain(v, depth + 1) for v in obj]
    if obj is None or isinstance(obj, _PLAIN_SCALARS):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise _Unwritable("number_out_of_range", f"{obj} is not a JSON number")
        return obj
    if isinstance(obj, datetime.date | datetime.time):
        return obj  # written as ISO 8601 text
    raise _Unwritable("unwritable_value", f"a {type(obj).__name__} value has no JSON form")


def from_columnar(obj: Any) -> Any:
    """A Parquet / HF row back to a JSON record: null fill dropped, JSON-string ``tools`` decoded.

    ``to_columnar`` stores ``tools`` as a JSON string (TRL reads it that way too); a string that
    does not decode to a list is left as it is, for the validator to report.
    """
    obj = _plain(obj)
    if isinstance(obj, dict) and isinstance(obj.get("tools"), str):
        with contextlib.suppress(orjson.JSONDecodeError):
            tools = orjson.loads(obj["tools"])
            if isinstance(tools, list):
                obj["tools"] = tools
    return obj


def _hf_json_features(metadata: dict[bytes, bytes] | None) -> dict[str, Any] | None:
    """The ``datasets`` feature spec of a Parquet file when some column is stored as ``Json``.

    ``datasets`` (5.x) writes values with no common Arrow type (a list of messages whose keys
    differ, tool parameter schemas) as JSON strings and says so only in this metadata.
    """
    raw = (metadata or {}).get(b"huggingface")
    if not raw or b'"Json"' not in raw:
        return None
    try:
        features = orjson.loads(raw).get("info", {}).get("features")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return features if isinstance(features, dict) else None


def _decode_hf_json(value: Any, feature: Any) -> Any:
    """Decode the ``Json``-typed parts of ``value`` following a ``datasets`` feature spec."""
    if isinstance(feature, list):  # the old spelling of a list feature: [inner]
        inner = feature[0] if feature else None
        return [_decode_hf_json(v, inner) for v in value] if isinstance(value, list) else value
    if not isinstance(feature, dict) or value is None:
        return value
    kind = feature.get("_type")
    if kind == "Json":
        if isinstance(value, str):
            with contextlib.suppress(orjson.JSONDecodeError):
                return orjson.loads(value)
        return value
    if kind in ("List", "LargeList", "Sequence"):
        inner = feature.get("feature")
        return [_decode_hf_json(v, inner) for v in value] if isinstance(value, list) else value
    if kind is None and isinstance(value, dict):  # a struct: one feature per key
        return {k: _decode_hf_json(v, feature.get(k)) for k, v in value.items()}
    return value


def to_columnar(row: Any) -> Any:
    """One record as a Parquet / HF row whose schema does not depend on the other rows.

    Arrow infers one struct type over all rows, so free-form JSON (each tool's parameter
    schema) becomes a union of every row's keys, null-filled: 130 fields on 300 tool-use rows.
    ``tools`` is stored as a JSON string and tool-call ``arguments`` stay JSON strings (as the
    OpenAI format has them); ``from_columnar`` turns ``tools`` back into a list.
    """
    if not isinstance(row, dict):
        return row
    out = dict(row)
    tools = out.get("tools")
    if isinstance(tools, list):
        out["tools"] = orjson.dumps(tools).decode()
    msgs = out.get("messages")
    if isinstance(msgs, list) and any(isinstance(m, dict) and _has_call(m) for m in msgs):
        out["messages"] = [_args_as_text(m) for m in msgs]
    return out


def _has_call(m: dict[str, Any]) -> bool:
    return "tool_calls" in m or "function_call" in m


def _args_as_text(m: Any) -> Any:
    if not isinstance(m, dict) or not _has_call(m):
        return m
    m = dict(m)
    if isinstance(m.get("tool_calls"), list):
        m["tool_calls"] = [_call_args_as_text(c, "function") for c in m["tool_calls"]]
    if "function_call" in m:
        m = _call_args_as_text(m, "function_call")
    return m


def _call_args_as_text(call: Any, key: str) -> Any:
    fn = call.get(key) if isinstance(call, dict) else None
    if not isinstance(fn, dict) or "arguments" not in fn or isinstance(fn["arguments"], str):
        return call
    return {**call, key: {**fn, "arguments": orjson.dumps(fn["arguments"]).decode()}}


def _is_hf_dataset_dir(p: Path) -> bool:
    return (p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists()


# -- writing -------------------------------------------------------------------------------


def _file_key(p: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing path: catches hard links and other spellings."""
    try:
        st = p.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_output_paths(
    inputs: Iterable[str | os.PathLike[str] | None],
    outputs: Iterable[str | os.PathLike[str] | None],
    folders: Iterable[str | os.PathLike[str] | None] = (),
) -> None:
    """Refuse outputs that would overwrite an input or each other (``-`` and None skipped).

    The one check every writing command makes before any work. An input may be a folder or
    a glob of data files (``curate.shards``): its files are inputs, and no output file may
    lie inside an input folder. ``outputs`` are files a command writes; ``folders`` are
    output folders it replaces whole (``curate run -o DIR --overwrite``), so no input may
    lie inside one. Paths are compared resolved (symlinks)
    and by inode (hard links).

    Raises:
        InputError: naming the clashing path and the fix.
    """
    ins: list[Path] = []
    in_dirs: list[Path] = []  # no output goes inside one: a later read would take it in
    for raw in inputs:
        if raw is None or str(raw) == "-":
            continue
        path = Path(raw)
        ins.append(path)
        # A folder or a glob (curate.shards) reads files: each file it holds or matches is
        # taken as an input (a superset of its data files: the check only has to be safe).
        if path.is_dir():
            in_dirs.append(path)
            ins.extend(f for f in path.rglob("*") if f.is_file())
        elif not path.exists() and set("*?[") & set(str(raw)):
            ins.extend(Path(f) for f in glob.glob(str(raw), recursive=True))
    seen: dict[Path, str] = {p.resolve(): "the input" for p in ins}
    inodes = {k: "the input" for p in ins if (k := _file_key(p)) is not None}
    for p in outputs:
        if p is None or str(p) == "-":
            continue
        key = Path(p).resolve()
        clash = seen.get(key) or inodes.get(_file_key(key) or (-1, -1))  # type: ignore[arg-type]
        if clash:
            raise InputError(f"{p}: would overwrite {clash}; choose another path")
        for d in in_dirs:
            if key.is_relative_to(d.resolve()):
                raise InputError(f"{p}: is inside the input folder {d}; choose a path outside it")
        seen[key] = "another output of this command"
        if (ino := _file_key(key)) is not None:
            inodes[ino] = "another output of this command"
    for d in folders:
        if d is None:
            continue
        folder = Path(d).resolve()
        for src in ins:
            where = src.resolve()
            if where == folder or where.is_relative_to(folder) or folder.is_relative_to(where):
                raise InputError(
                    f"{d}: the output folder would hold or replace the input {src}; "
                    "choose another folder"
                )


def current_umask() -> int:
    """The process umask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Temp files and folders are named ``.NAME.curate-tmp-PID-XXXX`` beside their target: the PID
# tells a later run whether the writer is gone (then the leftover is debris it removes).
TMP_MARK = ".curate-tmp-"
# A publish journal names the temp -> target renames of files that must appear together.
JOURNAL_MARK = ".curate-publish"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}{TMP_MARK}{os.getpid()}-"


def remove_stale(target: Path) -> list[Path]:
    """Delete temp files/folders of earlier, killed writers of ``target`` (dead PID only)."""
    removed: list[Path] = []
    prefix = f".{target.name}{TMP_MARK}"
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return removed
    for p in siblings:
        if not p.name.startswith(prefix):
            continue
        pid_text = p.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()
            removed.append(p)
    return removed


def _journal(target: Path) -> Path:
    return target.parent / f".{target.name}{JOURNAL_MARK}"


def recover(target: Path) -> None:
    """Finish a publish that a kill interrupted, then remove our stale temp files.

    A journal beside ``target`` means every temp file it names was complete and the renames
    had begun: rolling them forward gives the new set of files whole.
    """
    journal = _journal(target)
    with contextlib.suppress(FileNotFoundError, ValueError, OSError):
        entry = orjson.loads(journal.read_bytes())
        if not _pid_alive(int(entry["pid"])):
            for tmp, dest in entry["moves"]:
                if os.path.exists(tmp):
                    os.replace(tmp, dest)
            for dest in [d for _, d in entry["moves"]]:
                with contextlib.suppress(FileNotFoundError):
                    _journal(Path(dest)).unlink()
    remove_stale(target)


def recover_outputs(paths: Iterable[str | os.PathLike[str] | None]) -> None:
    """Before a command writes ``paths``: finish interrupted publishes, remove our debris."""
    for p in paths:
        if p is not None and str(p) != "-":
            with contextlib.suppress(OSError):
                recover(Path(p))


def _open_temp(path: str | os.PathLike[str]) -> tuple[Path, int, str]:
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        recover(target)
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(target), dir=target.parent)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    return target, fd, tmp


def _finish(fh: IO[Any]) -> None:
    fh.flush()
    # mkstemp makes the file private (0600); give it the mode a plain open() would.
    os.fchmod(fh.fileno(), 0o666 & ~current_umask())
    os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    A crash or exception leaves ``path`` untouched (old content or absent), never half
    written; the temp file a kill leaves behind is removed by the next write to ``path``.
    ``path == "-"`` writes to stdout instead.
    """
    if str(path) == "-":
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        yield stream
        stream.flush()
        return
    target, fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            _finish(fh)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_files(
    paths: Sequence[str | os.PathLike[str] | None],
) -> Iterator[list[IO[bytes] | None]]:
    """Binary handles for files that must appear together (an output and its rejects).

    Each is written to a temp file beside its target. On success all are fsynced, then a
    journal naming every rename is written beside each target, the renames run, and the
    journals go. A kill before the journal leaves the old files; a kill during the renames
    leaves a journal that the next write to any of these paths rolls forward, so a reader
    never gets a new output with an old rejects file once curate has run again. ``None``
    gives no handle; ``-`` is stdout.
    """
    handles: list[IO[bytes] | None] = []
    moves: list[tuple[str, Path]] = []
    journaled = False
    try:
        for p in paths:
            if p is None:
                handles.append(None)
            elif str(p) == "-":
                handles.append(sys.stdout.buffer)
            else:
                target, fd, tmp = _open_temp(p)
                moves.append((tmp, target))
                handles.append(os.fdopen(fd, "wb"))
        yield handles
        for fh in handles:
            if fh is not None and fh is not sys.stdout.buffer:
                _finish(fh)
                fh.close()
            elif fh is not None:
                fh.flush()
        if len(moves) > 1:
            entry = orjson.dumps(
                {"pid": os.getpid(), "moves": [[tmp, str(dest)] for tmp, dest in moves]}
            )
            for _, dest in moves:
                with atomic_writer(_journal(dest)) as jf:
                    jf.write(entry)
            journaled = True
        for tmp, dest in moves:
            os.replace(tmp, dest)
        for folder in {dest.parent for _, dest in moves}:
            _fsync_dir(folder)
        for _, dest in moves:
            with contextlib.suppress(FileNotFoundError):
                _journal(dest).unlink()
    except BaseException:
        for fh in handles:
            if fh is not None and fh is not sys.stdout.buffer:
                with contextlib.suppress(OSError):
                    fh.close()
        # Once the journals name the renames, an interrupt among them (Ctrl-C) leaves the
        # temps for the next write to roll forward: removed, the journal could not.
        for tmp, _ in [] if journaled else moves:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def dumps_line(obj: Any) -> bytes:
    """One JSONL line, deterministic (no key sorting: we keep the record's own order)."""
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)


def write_jsonl(path: str | os.PathLike[str], objects: Iterable[Any]) -> int:
    """Atomically write objects as JSONL; returns the number of lines written."""
    return write_lines(path, map(dumps_line, objects))


def record_line(record: Record) -> bytes:
    """``dumps_line(record.data)``; a packed record's bytes as they are (the same bytes:
    ``pack`` made them with ``orjson.dumps``), without parsing them."""
    packed = record.packed
    return packed + b"\n" if packed is not None else dumps_line(record.data)


def write_lines(path: str | os.PathLike[str], lines: Iterable[bytes]) -> int:
    """Atomically write ready JSONL lines; returns the number of lines written."""
    n = 0
    with atomic_writer(path, "wb") as fh:
        # One write per 1,024 lines: a write call per line was ~30% of writing a split file.
        it = iter(lines)
        while batch := list(itertools.islice(it, 1024)):
            fh.write(b"".join(batch))
            n += len(batch)
    return n
