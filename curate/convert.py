"""``curate convert``'s library half: one file to chat JSONL, every other line to rejects."""

from __future__ import annotations

import os
from collections import Counter
from typing import IO, Any

from curate.fieldmap import FieldMap
from curate.reader import read_chat
from curate.records import atomic_files, check_output_paths, dumps_line, recover_outputs
from curate.stage import Dropped

MAX_LISTED = 10_000


def convert_file(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    from_format: str | None = None,
    rejects: str | os.PathLike[str] | None = None,
    fields: FieldMap | None = None,
) -> dict[str, Any]:
    """Stream ``path`` into chat JSONL at ``output`` (atomic; ``-`` is stdout).

    Records that cannot be converted, and lines that do not parse, go to ``rejects`` (JSONL
    with source, line, reason, detail and the record or raw line), so every input line ends
    up in exactly one place. Returns the report ``curate convert --json`` prints.

    Raises:
        InputError: unreadable input, or an output that would overwrite the input.
    """
    check_output_paths([path], [output, rejects])
    recover_outputs([output, rejects])
    listed: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    n_out = 0
    rejects_fh: list[IO[bytes] | None] = [None]  # set once the outputs are open

    def drop(dropped: Dropped) -> None:
        reasons[dropped.reason] += 1
        if len(listed) < MAX_LISTED:
            listed.append(
                {
                    "line": dropped.record.line,
                    "source": dropped.record.source,
                    "reason": dropped.reason,
                    "detail": dropped.detail,
                }
            )
        if rejects_fh[0] is not None:
            rejects_fh[0].write(dumps_line(dropped.to_reject()))

    # Opened before the outputs: a missing input or an unknown format fails with nothing made.
    chat = read_chat(path, fmt=from_format, fields=fields, on_bad="reject", on_drop=drop)
    # Output and rejects are published together (one journal), never one without the other.
    with atomic_files([output, rejects]) as (out, rj):
        assert out is not None
        rejects_fh[0] = rj
        for record in chat:
            out.write(dumps_line(record.data))
            n_out += 1
    stats = chat.stats
    n_rejected = sum(reasons.values())
    return {
        "path": str(path),
        "output": str(output),
        "format": chat.converter.source_format,
        "records": stats.records + stats.bad_lines,
        "converted": n_out,
        "rejected": listed,
        "stats": {
            **stats.as_dict(),
            "blank_line_numbers": list(stats.blank_line_numbers),
            **chat.converter.stats(),
            "rejected_count": n_rejected,
            "rejected_by_reason": dict(sorted(reasons.items())),
        },
    }
