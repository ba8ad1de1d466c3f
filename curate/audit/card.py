"""A Hugging Face style dataset card (README.md): YAML metadata, then the audit in prose."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from curate.audit.model import FINDING_TITLES, first_findings
from curate.language import UNKNOWN
from curate.records import atomic_writer

_SIZE_CATEGORIES = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
]
MIN_LANGUAGE_SHARE = 0.01  # languages below 1% of conversations are detector noise more often


# Everything that comes from the data (labels, file names, finding messages quoting records)
# is escaped before it goes into Markdown: a label like ``<img src=x onerror=...>`` or
# ``[x](javascript:...)`` must render as text in any CommonMark viewer, never as HTML or a link.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&!|~#])")


def md(text: object) -> str:
    """``text`` as literal Markdown inline text (backslash escapes; one line)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def size_category(n: int) -> str:
    for limit, name in _SIZE_CATEGORIES:
        if n < limit:
            return name
    return "n>10M"


def card_metadata(report: Any, license: str | None = None, pretty_name: str | None = None) -> dict:
    """The YAML header: the fields the Hub uses for search and display."""
    langs = []
    for item in report.languages.get("conversation", []):
        code = item["language"].split("-")[0]
        if item["language"] not in ("unknown", UNKNOWN) and item["share"] >= MIN_LANGUAGE_SHARE:
            if code not in langs:
                langs.append(code)
    meta: dict[str, Any] = {}
    if pretty_name:
        meta["pretty_name"] = pretty_name
    meta["language"] = langs or ["unknown"]
    meta["license"] = license or "unknown"
    meta["size_categories"] = [size_category(report.metrics["conversations"])]
    meta["task_categories"] = ["text-generation"]
    meta["tags"] = ["sft", "chat", "curate-audit"]
    return meta


def card_text(
    report: Any,
    license: str | None = None,
    title: str | None = None,
    published: dict[str, Any] | None = None,
) -> str:
    """The whole README.md text.

    ``published`` (from ``curate run``) describes the folder the card sits in: ``outputs``
    (records per split file), ``input_records``, ``rejected_by_stage`` ({stage: {reason:
    n}}) and ``dropped_lines`` (lines of audited records dropped after the audit). The card
    then states what the folder holds and what was removed, and its known issues name only
    records that are still in the folder.
    """
    name = title or (Path(report.source).stem if report.source else "dataset")
    meta = yaml.safe_dump(
        card_metadata(report, license, title), sort_keys=False, allow_unicode=True
    )
    m, sh, lang, div = report.metrics, report.shape, report.languages, report.diversity
    tok = sh["tokens"]
    parts = [f"---\n{meta}---\n", f"# Dataset card for {md(name)}\n"]
    parts.append("## Summary\n")
    if published:
        parts += _published_summary(report, published)
    parts.append(
        f"{m['conversations']:,} conversations ({m['records']:,} input records). "
        f"{sh['multi_turn_share']:.0%} are multi-turn; a conversation has "
        f"{sh['messages_per_conversation']['mean']:.1f} messages on average. "
        f"Conversations are {tok['conversation']['p50']:.0f} tokens at the median and "
        f"{tok['conversation']['p90']:.0f} at the 90th percentile "
        f"({'exact, ' + tok['method'] if tok['exact'] else 'estimated'}). "
        + _system_sentence(sh["system_prompts"])
        + "\n"
    )
    for w in report.warnings:
        parts.append(f"> Note: {md(w)}.\n")
    parts.append("## Languages\n")
    parts.append(md(lang["reading"]) + "\n")
    parts.append("## Diversity\n")
    for text in div["readings"].values():
        parts.append(f"- {md(text)}")
    parts.append("")
    gone = set(published.get("dropped_lines", ())) if published else set()
    # Per code: its first findings, how many, and the records they name, in one pass over
    # the findings (they may be many, kept in a file on a Ray driver: curate.engine.spill).
    named: dict[str, set[int]] = {}
    by_code, count = first_findings(_noting_lines(_remaining(report.findings, gone), named))
    if published:
        parts += _removed_section(published)
    parts.append("## Known issues\n")
    if not by_code:
        parts.append(
            "The audit found no consistency problems"
            + (" in the published records" if published else "")
            + ".\n"
        )
    for code, group in by_code.items():
        n = len(named[code])
        # Finding codes are our own constants: safe in a code span.
        parts.append(f"### {FINDING_TITLES.get(code, code)} (`{code}`, {n:,} records)\n")
        for f in group:
            lines = _lines(f.lines)
            parts.append(f"- {md(f.message)} (records {lines}).")
        if count[code] > len(group):
            parts.append(f"- … and {count[code] - len(group)} more findings of this kind.")
        parts.append("")
    if report.gates:
        parts.append("## Quality gates\n")
        for rule in report.gates["rules"]:
            broken = [g for g in report.gates["failures"] if g["rule"] == rule]
            status = f"failed ({md(broken[0]['message'])})" if broken else "passed"
            parts.append(f"- {md(rule)}: {status}")
        parts.append("")
    parts.append("## How this card was made\n")
    parts.append(
        f"Generated by `curate audit` (seed {report.config.seed}). Record numbers are 1-based "
        "positions in the audited file. Language shares come from langdetect; diversity "
        "figures from sentence embeddings and k-means clusters; thresholds in the readings are "
        "rules of thumb.\n"
    )
    return "\n".join(parts)


def _noting_lines(findings: Iterable, named: dict[str, set[int]]) -> Iterator:
    """``findings``, unchanged; the lines of each code gathered into ``named`` on the way."""
    for f in findings:
        named.setdefault(f.code, set()).update(f.lines)
        yield f


def _remaining(findings: Iterable, gone: set[int]) -> Iterator:
    """The findings restricted to records still published (dropped ones are no issue of the
    published data; they are listed under "What was removed"), one at a time."""
    for f in findings:
        if not gone:
            yield f
            continue
        lines = [ln for ln in f.lines if ln not in gone]
        if lines:
            yield dataclasses.replace(f, lines=lines)


def _published_summary(report: Any, published: dict[str, Any]) -> list[str]:
    outputs = published["outputs"]
    total = sum(outputs.values())
    files = ", ".join(f"`{k}.jsonl` {v:,}" for k, v in outputs.items())
    removed = sum(
        n for reasons in published["rejected_by_stage"].values() for n in reasons.values()
    )
    dropped_after = len(published.get("dropped_lines", ()))
    text = (
        f"This folder holds {total:,} records ({files}), kept from "
        f"{published['input_records']:,} input records; {removed:,} were removed "
        "(see *What was removed*). "
    )
    if dropped_after:
        text += (
            f"The figures below come from the audit of the {report.metrics['conversations']:,} "
            f"records left after dedup, {dropped_after:,} of which were then dropped for audit "
            "findings.\n"
        )
    else:
        text += "The figures below come from the audit of the published records.\n"
    return [text]


def _removed_section(published: dict[str, Any]) -> list[str]:
    parts = ["## What was removed\n"]
    by_stage = published["rejected_by_stage"]
    if not by_stage:
        return [*parts, "Nothing: every input record is in this folder.\n"]
    for stage, reasons in by_stage.items():
        listed = ", ".join(f"`{r}` {n:,}" for r, n in reasons.items())
        parts.append(f"- stage `{stage}`: {listed}")
    parts.append(
        "\nEach removed record is in `rejects.jsonl` with its input line, stage and reason.\n"
    )
    return parts


def _system_sentence(sp: dict) -> str:
    if not sp["with_system"]:
        return "No conversation has a system prompt."
    return (
        f"{sp['with_system']:,} conversations carry a system prompt, in "
        f"{sp['variants']} variant{'s' if sp['variants'] != 1 else ''}."
    )


def _lines(lines: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(x) for x in lines[:limit])
    return shown + (f", … ({len(lines)} in all)" if len(lines) > limit else "")


def write_card(
    report: Any,
    path: str | os.PathLike[str],
    license: str | None = None,
    title: str | None = None,
    published: dict[str, Any] | None = None,
) -> None:
    """Write the dataset card to ``path`` atomically (``-`` for stdout)."""
    with atomic_writer(path, "w") as fh:
        fh.write(card_text(report, license, title, published))
