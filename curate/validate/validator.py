"""The validation step, its report, and ``validate_file`` (read -> convert -> check)."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from curate.errors import ConfigError
from curate.formats import Converter
from curate.reader import read_chat
from curate.records import (
    BadLine,
    ReadStats,
    Record,
    atomic_writer,
    check_output_paths,
    dumps_line,
)
from curate.shards import open_input
from curate.stage import Dropped, unreadable
from curate.tokens import TokenCounter
from curate.validate.checks import check_chat, fast_tokens
from curate.validate.codes import READ_CODES, SCHEMA_CODES, Finding, finding
from curate.validate.lengths import LengthStats
from curate.validate.schema import BUNDLED_SCHEMA, load_schema, schema_findings

if TYPE_CHECKING:
    from curate.validate.schema import SchemaValidator

STAGE = "validate"
MAX_LISTED = 10_000  # invalid records / warnings listed in a report; counts are always complete


def validate_record(data: Any) -> list[Finding]:
    """Findings (errors and warnings) for one canonical chat record, bundled schema.

    Example:
        >>> [f.code for f in validate_record({"messages": [{"role": "user", "content": "hi"}]})]
        ['no_assistant']
    """
    if not isinstance(data, dict):
        return [finding("not_an_object", "", "record is not a JSON object")]
    return check_chat(data)


@dataclass
class ValidationReport:
    """What ``validate_file`` found. ``as_dict()`` is the ``--json`` contract."""

    path: str
    format: str
    records: int
    valid: int
    invalid: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n_invalid(self) -> int:
        return self.records - self.valid

    @property
    def exit_code(self) -> int:
        """0 when every record is valid, 1 otherwise or when there is nothing to validate."""
        return 1 if self.n_invalid or not self.records else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "records": self.records,
            "valid": self.valid,
            "invalid": self.invalid,
            "warnings": self.warnings,
            "stats": self.stats,
        }


class Validator:
    """Per-record validation step (``Record -> Record | Dropped``) that keeps the tallies.

    Args:
        schema: path of a user JSON Schema; ``None`` uses the bundled chat schema.
        tokenizer: path of a local HF tokenizer for exact token counts; ``None`` estimates.
        max_tokens: records longer than this get an ``over_max_tokens`` warning.

    A dropped record's ``reason`` is its first error code; ``extra`` carries all ``errors``
    (and ``warnings``) as ``{code, path, message}`` dicts. Warnings never drop a record.
    """

    def __init__(
        self,
        schema: str | os.PathLike[str] | None = None,
        tokenizer: str | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.user_schema: SchemaValidator | None = load_schema(schema) if schema else None
        self.schema_name = str(schema) if schema else f"bundled:{BUNDLED_SCHEMA}"
        self.lengths = LengthStats(_token_counter(tokenizer), max_tokens)
        # fast_tokens() both validates and estimates; only when both are ours to do.
        self.fast = self.user_schema is None and tokenizer is None
        self.valid = 0
        self.n_invalid = 0
        self.n_warnings = 0
        self.invalid: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []
        self.errors_by_code: Counter[str] = Counter()
        self.warnings_by_code: Counter[str] = Counter()

    def check(self, data: Any) -> list[Finding]:
        """Schema + structural findings for one record (no token length)."""
        if self.user_schema is None:
            return validate_record(data)
        findings = schema_findings(self.user_schema, data)
        if isinstance(data, dict) and "messages" in data:
            findings += [f for f in check_chat(data) if f.code not in SCHEMA_CODES]
        return findings

    def __call__(self, record: Record) -> Record | Dropped:
        data = record.data
        if self.fast and type(data) is dict:
            n = fast_tokens(data)
            if n >= 0:  # the hottest path: plainly valid, estimate already summed
                self.valid += 1
                if self.lengths.add(n):
                    self._warn_long(record)
                return record
        if self.user_schema is None and type(data) is dict:
            findings = check_chat(data)
            if not findings:  # the hot path: a valid record with no warnings
                self.valid += 1
                self._measure(record, data["messages"])
                return record
        else:
            findings = self.check(data)
        errors = [f for f in findings if f.severity == "error"]
        for w in findings:
            if w.severity == "warning":
                self._warn(record, w)
        if not errors:
            self.valid += 1
            msgs = data.get("messages") if isinstance(data, dict) else None
            if type(msgs) is list:
                self._measure(record, msgs)
            return record
        extra: dict[str, Any] = {"errors": [e.as_dict() for e in errors]}
        warnings = [w.as_dict() for w in findings if w.severity == "warning"]
        if warnings:
            extra["warnings"] = warnings
        self._invalid(record.source, record.line, errors, record.text_line)
        return Dropped(record, STAGE, errors[0].code, _detail(errors), extra)

    def _measure(self, record: Record, messages: list[Any]) -> None:
        if self.lengths.add(self.lengths.measure(messages)):
            self._warn_long(record)

    def _warn_long(self, record: Record) -> None:
        method = "exact" if self.lengths.counter is not None else "estimated"
        self._warn(
            record,
            finding(
                "over_max_tokens",
                "",
                f"longer than --max-tokens {self.lengths.max_tokens} ({method} count)",
            ),
        )

    def reject(self, item: BadLine | Dropped) -> Dropped:
        """Count a bad line (reader) or a conversion drop as an invalid record."""
        if isinstance(item, BadLine):
            errors = (
                [finding(item.reason, "", item.message)]
                if item.reason in READ_CODES
                else [finding("json_decode", "", f"{item.reason}: {item.message}")]
            )
            self._invalid(item.source, item.line, errors)
            extra = {"errors": [e.as_dict() for e in errors], "raw": item.raw}
            return unreadable(item, errors[0].code, extra)
        errors = [finding(item.reason, "", item.detail)]
        self._invalid(item.record.source, item.record.line, errors, item.record.text_line)
        return Dropped(
            item.record,
            item.stage,
            item.reason,
            item.detail,
            {**item.extra, "errors": [e.as_dict() for e in errors]},
        )

    def _invalid(self, source: str, line: int, errors: list[Finding], text_line: int = 0) -> None:
        self.n_invalid += 1
        for e in errors:
            self.errors_by_code[e.code] += 1
        if len(self.invalid) < MAX_LISTED:
            entry: dict[str, Any] = {"line": line, "source": source}
            if text_line and text_line != line:
                entry["text_line"] = text_line  # JSON arrays: the element's physical line
            entry["errors"] = [e.as_dict() for e in errors]
            self.invalid.append(entry)

    def _warn(self, record: Record, w: Finding) -> None:
        self.n_warnings += 1
        self.warnings_by_code[w.code] += 1
        if len(self.warnings) < MAX_LISTED:
            self.warnings.append(
                {
                    "line": record.line,
                    "source": record.source,
                    "code": w.code,
                    "path": w.path,
                    "message": w.message,
                }
            )

    def stats(self) -> dict[str, Any]:
        return {
            "schema": self.schema_name,
            "invalid_records": self.n_invalid,
            "warning_count": self.n_warnings,
            "errors_by_code": dict(sorted(self.errors_by_code.items())),
            "warnings_by_code": dict(sorted(self.warnings_by_code.items())),
            "listed_limit": MAX_LISTED,
            "truncated": self.n_invalid > len(self.invalid) or self.n_warnings > len(self.warnings),
            "tokens": self.lengths.summary(),
        }

    def report(self, path: str, read: ReadStats, conv: Converter | None = None) -> ValidationReport:
        stats = {**read.as_dict(), "blank_line_numbers": list(read.blank_line_numbers)}
        fmt = "chat"
        if conv is not None:
            stats.update(conv.stats())
            fmt = conv.source_format
            stats["converted_from"] = fmt if fmt not in ("chat", "unknown") else None
        records = read.records + read.bad_lines
        if not records:
            # An empty file passing "clean" would let a broken export through a CI gate.
            self.n_warnings += 1
            self.warnings_by_code["no_records"] += 1
            self.warnings.append(
                {"line": 0, "code": "no_records", "message": "the input holds no records"}
            )
        stats.update(self.stats())
        return ValidationReport(
            path=path,
            format=fmt,
            records=records,
            valid=self.valid,
            invalid=self.invalid,
            warnings=self.warnings,
            stats=stats,
        )


def _token_counter(tokenizer: str | None) -> TokenCounter | None:
    if tokenizer is None:
        return None
    if not os.path.exists(tokenizer):  # fail before the slow transformers import
        raise ConfigError(f"{tokenizer}: cannot load a tokenizer: no such file or directory")
    try:
        return TokenCounter(tokenizer)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{tokenizer}: cannot load a tokenizer: {exc}") from exc


def _detail(errors: list[Finding]) -> str:
    return "; ".join(f"{e.code} at {e.path or '/'}: {e.message}" for e in errors[:5])


def validate_file(
    path: str | os.PathLike[str],
    schema: str | os.PathLike[str] | None = None,
    tokenizer: str | None = None,
    max_tokens: int | None = None,
    from_format: str | None = None,
    rejects: str | os.PathLike[str] | None = None,
) -> ValidationReport:
    """Read ``path`` (any container ``RecordReader`` knows, or a folder / glob of them),
    convert non-chat records, and
    validate every record, streaming (memory stays flat in the file size).

    Args:
        path: input file, HF dataset folder, or ``-`` for stdin.
        schema: user JSON Schema file instead of the bundled chat schema.
        tokenizer: local HF tokenizer path for exact token counts (else an estimate).
        max_tokens: warn (``over_max_tokens``) on records longer than this.
        from_format: force the input format (``alpaca``, ``sharegpt``, ...); default detects
            it by a majority over the first 1,000 records.
        rejects: write every invalid record (source, line, reason, errors, record) as JSONL.

    Raises:
        InputError: the input cannot be opened or read. ConfigError: bad schema / format.
    """
    check_output_paths([path], [rejects])
    reader = open_input(path)  # a missing input fails first, before any output is made
    val = Validator(schema, tokenizer, max_tokens)
    out: list[IO[bytes] | None] = [None]  # the rejects file once it is open

    def drop(dropped: Dropped) -> None:
        if out[0] is not None:
            out[0].write(dumps_line(dropped.to_reject()))

    # Without --from, a record of no known shape is validated as it is (missing_messages).
    chat = read_chat(
        reader,
        fmt=from_format,
        keep_unknown=from_format is None,
        validator=val,
        on_bad="reject",
        on_drop=drop,
        reject_as_read=True,
    )
    opener = atomic_writer(rejects, "wb") if rejects else contextlib.nullcontext()
    with opener as fh:
        out[0] = fh
        for _ in chat:
            pass
    return val.report(str(path), chat.stats, chat.converter)
