"""Mergeable statistics: what a worker counted over one shard, added into the driver's totals.

Workers run the same ``Validator`` / ``Converter`` as the local engine, one per shard; their
counters, histograms and capped example lists are plain data, so the driver adds them up in
shard order and gets the numbers a single pass over all shards would have produced.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from curate.formats import MAX_NOTE_EXAMPLES, Converter


def validator_state(validator: Any) -> dict[str, Any]:
    """The additive part of a ``curate.validate.Validator`` (picklable, small)."""
    lengths = validator.lengths
    return {
        "valid": validator.valid,
        "n_invalid": validator.n_invalid,
        "n_warnings": validator.n_warnings,
        "invalid": validator.invalid,
        "warnings": validator.warnings,
        "errors_by_code": dict(validator.errors_by_code),
        "warnings_by_code": dict(validator.warnings_by_code),
        "hist": dict(lengths.hist),
        "n": lengths.n,
        "total": lengths.total,
        "over": lengths.over,
        "fallbacks": lengths.fallbacks,
    }


def merge_validator(into: Any, state: dict[str, Any]) -> None:
    """Add one shard's ``validator_state`` to the driver's ``Validator``."""
    from curate.validate.validator import MAX_LISTED

    into.valid += state["valid"]
    into.n_invalid += state["n_invalid"]
    into.n_warnings += state["n_warnings"]
    into.invalid.extend(state["invalid"][: max(0, MAX_LISTED - len(into.invalid))])
    into.warnings.extend(state["warnings"][: max(0, MAX_LISTED - len(into.warnings))])
    into.errors_by_code.update(state["errors_by_code"])
    into.warnings_by_code.update(state["warnings_by_code"])
    lengths = into.lengths
    for k, v in state["hist"].items():
        lengths.hist[k] = lengths.hist.get(k, 0) + v
    lengths.n += state["n"]
    lengths.total += state["total"]
    lengths.over += state["over"]
    lengths.fallbacks += state["fallbacks"]


def merge_converters(parts: list[Converter], fmt: str | None) -> Converter:
    """One ``Converter`` whose ``stats()`` covers every shard (first detection wins)."""
    out = Converter(fmt, fields=parts[0].fields if parts else None)
    chat = 0
    votes: Counter[str] = Counter()
    for part in parts:
        votes.update(part.votes)
        if out.fmt is None and part.fmt is not None:
            out.fmt, out.detected_from = part.fmt, part.detected_from
        out.formats.update(part.formats)
        out.notes.update(part.notes)
        for note, refs in part.note_examples.items():
            have = out.note_examples.setdefault(note, [])
            have.extend(refs[: max(0, MAX_NOTE_EXAMPLES - len(have))])
        chat += part._chat
        out._files.update(part._files)  # each shard's own format, for ``format_by_file``
    out._chat = chat
    # One shard: the local vote exactly. Several: each shard decided its own format (the
    # workers read in parallel); the report sums their votes.
    out.votes = dict(sorted(votes.items()))
    return out


def add_counts(into: Counter[Any], part: dict[Any, int]) -> None:
    for k, v in part.items():
        into[k] += v
