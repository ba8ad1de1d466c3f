"""The rejects browser: every stage and reason of a run, with its records (capped per reason)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from curate.report.html import Markup, esc, para
from curate.report.records import RecordView, record_list

MAX_PER_REASON = 25

REASON_WORDS = {
    "json_decode": "the line is not valid JSON",
    "exact_duplicate": "an exact copy (after normalisation) of a kept record",
    "near_duplicate": "a near copy (MinHash / word-shingle Jaccard) of a kept record",
    "semantic_duplicate": "says the same as a kept record (embedding cosine)",
    "leaked": "duplicates a record of another file (--against)",
    "too_few_tokens": "shorter than filter.min_tokens",
    "too_many_tokens": "longer than filter.max_tokens (would be truncated in training)",
}


def read_rejects(
    path: str | Path, cap: int = MAX_PER_REASON
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The first ``cap`` rejects of each (stage, reason), in file order."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with open(path, "rb") as fh:
        for line in fh:
            obj = orjson.loads(line)
            key = (obj.get("stage", ""), obj.get("reason", ""))
            group = out.setdefault(key, [])
            if len(group) < cap:
                group.append(obj)
    return out


def _view(obj: Mapping[str, Any]) -> RecordView:
    data = obj.get("record")
    raw = obj.get("raw") if isinstance(obj.get("raw"), str) else ""
    detail = obj.get("detail") or ""
    return RecordView(
        source=str(obj.get("source", "")),
        line=int(obj.get("line", 0)),
        data=data,
        reason=detail,
        finding=[f"rejected:{obj.get('reason', '')}"],
        split="rejected",
        raw=raw,
    )


def rejects_section(
    counts: Mapping[str, Mapping[str, int]],
    samples: Mapping[tuple[str, str], list[dict[str, Any]]],
    cap: int = MAX_PER_REASON,
) -> Markup:
    """Per stage, per reason: the count, what the reason means, and the records."""
    if not any(n for reasons in counts.values() for n in reasons.values()):
        return para("Nothing was rejected.")
    out = [
        para(
            f"Every rejected line is in rejects.jsonl with its stage, reason and line; here at "
            f"most {cap} per reason. Open a reason to see its records."
        )
    ]
    for stage, reasons in counts.items():
        total = sum(reasons.values())
        out.append(Markup(f"<h3>Stage <code>{esc(stage)}</code>: {total:,} records</h3>"))
        for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            views = [_view(o) for o in samples.get((stage, reason), [])]
            words = REASON_WORDS.get(reason, "")
            out.append(
                Markup(
                    f'<details class="group" id="reject-{esc(stage)}-{esc(reason)}"><summary>'
                    f"<code>{esc(reason)}</code> · {n:,} records"
                    + (f' <span class="muted">({esc(words)})</span>' if words else "")
                    + "</summary>"
                )
                + record_list(views, n, cap, "rejected records")
                + Markup("</details>")
            )
    return Markup("".join(out))
