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
import gzip
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
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

    @property
    def ref(self) -> str:
        """``source:line``, the human handle used in reports."""
        return f"{self.source}:{self.line}"

    @property
    def id(self) -> str:
        """The record's own ``id`` field when it has one, else ``source:line``."""
        if isinstance(self.data, dict):
            value = self.data.get("id")
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
        return self.ref

    def with_data(self, data: Any) -> Record:
        """A new record at the same position with other data (for conversions)."""
        return Record(self.source, self.line, data, self.text_line)


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


def _parse_line(raw: bytes) -> tuple[Any, str, str]:
    """Parse one JSONL line. Returns (value, reason, message); reason is '' on success."""
    try:
        return orjson.loads(raw), "", ""
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as uexc:
            return None, "invalid_utf8", f"invalid UTF-8 at byte {uexc.start}"
        if "recursion" in msg.lower() or "depth limit" in msg.lower():
            return None, "too_deep", "JSON nested deeper than 1024 levels"
        return None, "json_decode", msg


def _preview(raw: bytes) -> str:
    return raw[:RAW_PREVIEW].decode("utf-8", errors="replace")


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


_WS = frozenset(b" \t\r\n\f\v")
# What surrogateescape decoding makes of an invalid UTF-8 byte.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


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

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self.stats = ReadStats()
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
        if p.is_dir():
            yield from self._read_hf(p)
        elif p.suffix == ".parquet":
            yield from self._read_parquet(p)
        else:
            opener = gzip.open if p.suffix == ".gz" else open
            try:
                with opener(p, "rb") as fh:
                    yield from self._read_text_stream(fh)
            except (OSError, EOFError) as exc:
                raise InputError(f"{self.path}: cannot read: {exc}") from exc

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
        for lineno, raw in enumerate(fh, start=1):
            stats.physical_lines = lineno
            # Only a line that starts with whitespace can be blank: skip the copy strip() makes.
            if raw[0] in _WS and not raw.strip():
                stats.blank_lines += 1
                if len(stats.blank_line_numbers) < MAX_BLANK_LINE_NUMBERS:
                    stats.blank_line_numbers.append(lineno)
                continue
            try:
                value = loads(raw)
            except orjson.JSONDecodeError:
                _, reason, message = _parse_line(raw)
                stats.bad_lines += 1
                # The whole line goes to rejects, so nothing is lost (bad bytes become U+FFFD).
                yield BadLine(path, lineno, reason, message, _text(raw))
                continue
            if type(value) is dict:
                stats.records += 1
                yield Record(path, lineno, value, lineno)
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

        Elements are decoded one at a time with ``raw_decode`` on a growing buffer; the
        physical line of each element is tracked for messages. With ``array=False`` the file
        is a sequence of whitespace-separated JSON values instead (pretty-printed records, as
        ``jq .`` or ``json.dump(indent=2)`` write them), numbered the same way.
        """
        decoder = json.JSONDecoder()
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
                    value, end = decoder.raw_decode(buf, pos)
                    break
                except RecursionError:
                    value, end = _TOO_DEEP, -1
                    break
                except json.JSONDecodeError as exc:
                    if fill():
                        continue
                    value, end = exc, -1
                    break
            if end == -1:
                stats.bad_lines += 1
                if value is _TOO_DEEP:
                    reason, message = "too_deep", "JSON nested too deeply"
                else:
                    err = value
                    err_line = start_line + buf.count("\n", pos, err.pos)
                    reason = "json_decode"
                    message = (
                        f"{err.msg} (file line {err_line}); the rest of the array is unreadable"
                    )
                yield BadLine(self.path, index + 1, reason, message, buf[pos : pos + RAW_PREVIEW])
                break
            bad_bytes = _ESCAPED_BYTE.search(buf, pos, end)
            element = buf[pos:end] if bad_bytes else ""
            line += buf.count("\n", pos, end)
            pos = end
            index += 1
            expect_value = False
            if bad_bytes:
                stats.bad_lines += 1
                yield BadLine(
                    self.path,
                    index,
                    "invalid_utf8",
                    f"array element {index} (file line {start_line}) has invalid UTF-8",
                    element.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
                )
            elif isinstance(value, dict):
                stats.records += 1
                yield Record(self.path, index, value, start_line)
            else:
                stats.bad_lines += 1
                yield BadLine(
                    self.path,
                    index,
                    "not_an_object",
                    f"array element {index} is a {type(value).__name__}, not an object",
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
                self.stats.records += 1
                data = from_columnar(obj)
                if features is not None:
                    data = _decode_hf_json(data, features)
                yield Record(self.path, row, data, row)
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
                self.stats.records += 1
                yield Record(source, i, from_columnar(obj), i)
        self.stats.physical_lines = row


def _pretty_printed(head: bytes) -> bool:
    """True when the first non-blank line is a lone ``{``: indented JSON, not JSONL."""
    for line in head.splitlines():
        if line.strip():
            return line.strip() == b"{"
    return False


class _TooDeep:
    pass


_TOO_DEEP = _TooDeep()


def _plain(obj: Any) -> Any:
    """Drop the ``None`` fill that columnar formats add for keys a row did not have."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


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


def read_records(path: str | os.PathLike[str]) -> Iterator[Record | BadLine]:
    """Shorthand for ``iter(RecordReader(path))``."""
    return iter(RecordReader(path))


# -- writing -------------------------------------------------------------------------------


def check_output_paths(
    inputs: Iterable[str | os.PathLike[str] | None],
    outputs: Iterable[str | os.PathLike[str] | None],
) -> None:
    """Refuse outputs that would overwrite an input or each other (``-`` and None skipped).

    Raises:
        InputError: naming the clashing path and the fix.
    """
    seen: dict[Path, str] = {}
    for p in inputs:
        if p is not None and str(p) != "-":
            seen[Path(p).resolve()] = "the input"
    for p in outputs:
        if p is None or str(p) == "-":
            continue
        key = Path(p).resolve()
        if key in seen:
            raise InputError(f"{p}: would overwrite {seen[key]}; choose another path")
        seen[key] = "another output of this command"


def current_umask() -> int:
    """The process umask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    A crash or exception leaves ``path`` untouched (old content or absent), never half
    written. ``path == "-"`` writes to stdout instead.
    """
    if str(path) == "-":
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        yield stream
        stream.flush()
        return
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def dumps_line(obj: Any) -> bytes:
    """One JSONL line, deterministic (no key sorting: we keep the record's own order)."""
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)


def write_jsonl(path: str | os.PathLike[str], objects: Iterable[Any]) -> int:
    """Atomically write objects as JSONL; returns the number of lines written."""
    n = 0
    with atomic_writer(path, "wb") as fh:
        for obj in objects:
            fh.write(dumps_line(obj))
            n += 1
    return n
