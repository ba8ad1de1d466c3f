"""The audit report page: summary, findings with examples, shape, languages, diversity."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from curate.audit.model import FINDING_CODES, FINDING_TITLES, first_findings
from curate.records import Record
from curate.report.evidence import Evidence, Place, collect_findings
from curate.report.html import (
    Markup,
    Section,
    badge,
    bullets,
    esc,
    html_page,
    img,
    kv_table,
    para,
    pre,
    table,
)
from curate.report.plots import bar_chart, grouped_bar_chart, histogram, weighted
from curate.report.records import PAGE_SCRIPT, RECORD_CSS, filter_bar, record_list
from curate.report.topics import build_topics, topics_section

MAX_FINDINGS_PER_CODE = 5
MAX_LINES_SHOWN = 40
TOP_LANGUAGES = 6

# (name, plot function of curate.report.plots, args, kwargs, alt text): plain data a worker
# process can take (the function travels by name).
Chart = tuple[str, Callable[..., str], tuple, dict, str]


def _lines(lines: list[int]) -> str:
    shown = ", ".join(str(x) for x in lines[:MAX_LINES_SHOWN])
    return shown + (f" … ({len(lines):,} in all)" if len(lines) > MAX_LINES_SHOWN else "")


def _summary(report: Any) -> Markup:
    m, cfg = report.metrics, report.config
    emb = report.diversity.get("embeddings")
    info = {
        "source": report.source,
        "records": f"{m['records']:,}",
        "conversations": f"{m['conversations']:,}",
        "records with findings": f"{m['findings']:,}",
        "tokens": report.shape["tokens"]["method"],
        "embeddings": (
            f"{emb['source']} ({emb['rows']:,} of {emb['of']:,} conversations)" if emb else "off"
        ),
        "seed": cfg.seed,
    }
    out = [kv_table(info)]
    if report.warnings:
        out.append(Markup("<h3>Warnings</h3>") + bullets(report.warnings))
    if report.gates:
        rows = []
        for rule in report.gates["rules"]:
            broken = [g for g in report.gates["failures"] if g["rule"] == rule]
            status = badge("failed", "error") if broken else badge("passed", "ok")
            rows.append([rule, status, broken[0]["message"] if broken else ""])
        out.append(Markup("<h3>Gates</h3>") + table(["rule", "status", "detail"], rows))
    rows = []
    count_of = getattr(report.findings, "count_of", None)  # findings in a file: engine.spill
    for code, severity in FINDING_CODES.items():
        n = report.flagged(code)
        groups = count_of(code) if count_of else sum(1 for f in report.findings if f.code == code)
        level = severity if n else "ok"
        rows.append(
            [
                Markup(f'<a href="#finding-{esc(code)}"><code>{esc(code)}</code></a>')
                if n
                else Markup(f"<code>{esc(code)}</code>"),
                badge(severity if n else "clean", level),
                FINDING_TITLES[code],
                f"{n:,}",
                f"{groups:,}",
            ]
        )
    out.append(Markup("<h3>Findings by code</h3>"))
    out.append(table(["code", "status", "what", "records", "findings"], rows, numeric=(3, 4)))
    return Markup("".join(out))


def _findings(report: Any, evidence: Evidence | None = None) -> Markup:
    if not report.findings:
        return para("No findings.")
    out = []
    by_code, count = first_findings(report.findings, MAX_FINDINGS_PER_CODE)
    if evidence is not None:
        out.append(
            para(
                "Open a finding to see its records: each shows its file and line, why it was "
                "flagged, and the whole conversation (click a record to unfold it)."
            )
        )
    for code, group in by_code.items():
        n = report.flagged(code)
        out.append(
            Markup(f'<details class="group finding" id="finding-{esc(code)}"><summary>')
            + esc(FINDING_TITLES.get(code, code))
            + Markup(f" <code>{esc(code)}</code> ")
            + badge(group[0].severity, group[0].severity)
            + esc(f" {n:,} records")
            + Markup("</summary>")
        )
        reasons = [f.message for f in group]
        if count[code] > MAX_FINDINGS_PER_CODE:
            reasons.append(
                f"… and {count[code] - MAX_FINDINGS_PER_CODE:,} more findings (all in --json)"
            )
        out.append(bullets(reasons))
        if evidence is not None and code in evidence.findings:
            views, total = evidence.findings[code]
            out.append(record_list(views, total, evidence.cap, "records"))
        else:
            for f in group:
                out.append(Markup('<p class="muted">records: ') + esc(_lines(f.lines)) + "</p>")
                if f.example:
                    out.append(pre(f.example))
        out.append(Markup("</details>"))
    return Markup("".join(out))


def _floats(series: Any) -> Any:
    # The values travel as float arrays (what ``histogram`` makes of them anyway): 8 bytes
    # a value instead of a list's ~36 in the worker that draws them; a series held as its
    # histogram (``weighted()``) travels as it is: its values and counts, nothing per row.
    return series if hasattr(series, "weighted") else np.asarray(series, dtype=float)


def audit_charts(report: Any, topics: bool = False) -> list[Chart]:
    """The page's charts, as plain data (``Chart``): ``draw_charts`` draws them, in this
    process or in a worker while the run goes on (``curate run``); the page is the same.

    ``topics``: the page shows named topics (``render_audit_page`` with records), which
    replace the cluster size chart.
    """
    sh, series = report.shape, report.series
    out: list[Chart] = []
    turns = _floats(series.get("turns", []))
    # A chart with one bar says nothing a sentence can't (every conversation single-turn).
    if np.unique(weighted(turns)[0]).size > 1:
        out.append(
            (
                "turns",
                histogram,
                ({"user turns": turns}, "User turns per conversation", "turns"),
                {"discrete": True},
                "histogram of user turns per conversation",
            )
        )
    tok_series = {r: _floats(v) for r, v in series.get("tokens", {}).items() if len(v)}
    if tok_series:
        label = "tokens" if sh["tokens"]["exact"] else "tokens (estimated)"
        out.append(
            (
                "tokens",
                histogram,
                (tok_series, "Tokens per conversation, by role", label),
                {"log_x": True},
                "histogram of token lengths per role",
            )
        )
    lang = report.languages
    ranked: list[str] = [x["language"] for x in lang["conversation"]][:TOP_LANGUAGES]
    if len(ranked) > 1:
        shares = {
            role: [
                next((x["share"] for x in items if x["language"] == code), 0.0) for code in ranked
            ]
            for role, items in lang["by_role"].items()
        }
        out.append(
            (
                "languages",
                grouped_bar_chart,
                (ranked, shares, "Language share by role", "share"),
                {},
                "bar chart of language shares per role",
            )
        )
    d = report.diversity
    cl = d.get("clusters")
    if not topics and cl and len(cl["sizes"]) > 1:
        out.append(
            (
                "clusters",
                bar_chart,
                (
                    [str(i + 1) for i in range(len(cl["sizes"]))],
                    cl["sizes"],
                    f"Topic cluster sizes (k={cl['k']}, largest first)",
                    "conversations",
                ),
                {},
                "bar chart of topic cluster sizes",
            )
        )
    lab = d.get("labels")
    if lab and len(lab["counts"]) > 1:
        top = lab["counts"][:20]
        out.append(
            (
                "labels",
                bar_chart,
                (
                    [x["label"] for x in top],
                    [x["count"] for x in top],
                    f"Label balance: {lab['field']}",
                    "records",
                ),
                {"horizontal": True, "height": max(3.0, 0.22 * len(top) + 1.0)},
                "bar chart of label counts",
            )
        )
    return out


def shows_topics(report: Any, records: Sequence[Record] | None) -> bool:
    """Whether ``render_audit_page`` names topics (given the audited records)."""
    if records is None:
        records = report.series.get("records")
    return (
        records is not None
        and report.series.get("topics") is not None
        and bool(report.diversity.get("clusters"))
    )


def draw_charts(charts: Sequence[Chart]) -> dict[str, Markup]:
    """Chart name -> its ``<img>`` (PNG data URI: the same bytes in any process)."""
    return {name: img(plot(*args, **kwargs), alt) for name, plot, args, kwargs, alt in charts}


def _plots(charts: Mapping[str, Markup], *names: str) -> Markup:
    return Markup("".join(charts[n] for n in names if n in charts))


def _shape(report: Any, charts: Mapping[str, Markup]) -> Markup:
    sh = report.shape
    stats_rows = [
        [role, s["count"], s["mean"], s["p50"], s["p90"], s["p99"], s["max"]]
        for role, s in [("conversation", sh["tokens"]["conversation"])]
        + list(sh["tokens"]["by_role"].items())
    ]
    sp = sh["system_prompts"]
    sys_rows = [
        [f"{t['count']:,}", f"{t['share']:.1%}", t["first_line"], t["text"]] for t in sp["top"]
    ]
    return Markup(
        para(
            f"{sh['conversations']:,} conversations, {sh['messages']:,} messages; "
            f"{sh['multi_turn_share']:.1%} multi-turn. Token counts: {sh['tokens']['method']}."
        )
        + Markup('<div class="plots">')
        + _plots(charts, "turns", "tokens")
        + Markup("</div><h3>Token lengths</h3>")
        + table(
            ["", "n", "mean", "p50", "p90", "p99", "max"], stats_rows, numeric=(1, 2, 3, 4, 5, 6)
        )
        + Markup("<h3>Messages by role</h3>")
        + table(["role", "messages"], sh["messages_by_role"].items(), numeric=(1,))
        + Markup("<h3>System prompts</h3>")
        + para(
            f"{sp['with_system']:,} conversations have a system prompt "
            f"({sp['variants']} distinct), {sp['without_system']:,} have none."
        )
        + (
            table(["count", "share", "first line", "system prompt"], sys_rows, numeric=(0, 1, 2))
            if sys_rows
            else Markup("")
        )
    )


def _languages(report: Any, charts: Mapping[str, Markup]) -> Markup:
    lang = report.languages
    rows = [[x["language"], f"{x['count']:,}", f"{x['share']:.1%}"] for x in lang["conversation"]]
    return Markup(
        Markup('<p class="reading">')
        + esc(lang["reading"])
        + Markup("</p>")
        + para(
            f"Checked {lang['checked']:,} of {lang['of']:,} conversations "
            f"({lang['method']}, first {lang['chars_per_text']} characters per role); "
            f"assistant answers in another language: {lang['mismatch']:,} "
            f"({lang['mismatch_share']:.1%} of {lang['comparable']:,} long enough to tell)."
        )
        + Markup('<div class="plots">')
        + _plots(charts, "languages")
        + Markup("</div><h3>Conversation language</h3>")
        + table(["language", "conversations", "share"], rows, numeric=(1, 2))
    )


def _diversity(report: Any, charts: Mapping[str, Markup], topics: Markup | None = None) -> Markup:
    d = report.diversity
    out = [Markup("<h3>Readings</h3>"), bullets(d["readings"].values())]
    if topics is not None:
        out.append(Markup("<h3>Topics</h3>") + topics)
    plots = _plots(charts, "clusters", "labels")
    if plots:
        out.append(Markup('<div class="plots">') + plots + Markup("</div>"))
    m = report.metrics
    names = [
        "near_duplicate_share",
        "distinct_1",
        "distinct_2",
        "prompt_distinct_2",
        "cluster_entropy",
        "top_cluster_share",
        "cluster_coverage",
        "mean_pairwise_distance",
        "label_entropy",
        "label_imbalance",
    ]
    rows = [[Markup(f"<code>{n}</code>"), m[n]] for n in names if m.get(n) is not None]
    out.append(Markup("<h3>Metrics</h3>") + table(["metric", "value"], rows, numeric=(1,)))
    st = d.get("style")
    if st:
        rows = [[k, f"{v:.1%}"] for k, v in st["feature_share"].items()]
        out.append(
            Markup("<h3>Answer formatting</h3>")
            + para(f"Share of {st['answers']:,} answers using each formatting feature.")
            + table(["feature", "share"], rows, numeric=(1,))
        )
    return Markup("".join(out))


def render_audit_page(
    report: Any,
    title: str | None = None,
    before: Sequence[Section] = (),
    after: Sequence[Section] = (),
    records: Sequence[Record] | None = None,
    place: Callable[[Record], Place] | None = None,
    split_of: Callable[[Sequence[int]], list[str]] | None = None,
    charts: Mapping[str, Markup] | None = None,
) -> str:
    """The complete HTML page for an ``AuditReport``.

    Args:
        before / after: sections put first / last (a run's summary; its dedup and rejects).
        records: the audited records; with them every finding lists its records and topics
            get names (default: ``report.series["records"]`` when ``audit_path`` kept them).
        place: where a record went (split, stratum), for the record filters.
        split_of: record indices -> split names, for each topic's train/test share.
        charts: ``draw_charts(audit_charts(report, shows_topics(report, records)))`` when
            already drawn (``curate run`` draws them in a worker); drawn here otherwise.
    """
    if records is None:
        records = report.series.get("records")
    evidence = topics = None
    if records is not None:
        evidence = collect_findings(report.findings, records, place, seed=report.config.seed)
        ts = report.series.get("topics")
        cl = report.diversity.get("clusters")
        if ts is not None and cl:
            found, splits = build_topics(records, ts, split_of)
            topics = topics_section(found, splits, cl["k"])
    if charts is None:
        charts = draw_charts(audit_charts(report, shows_topics(report, records)))
    sections = [
        *before,
        Section("Summary", _summary(report)),
        Section("Findings", _findings(report, evidence)),
        Section("Shape", _shape(report, charts)),
        Section("Languages", _languages(report, charts)),
        Section("Diversity", _diversity(report, charts, topics)),
        *after,
    ]
    return html_page(
        title or f"Audit: {report.source}",
        sections,
        subtitle=f"curate {'run' if before else 'audit'} · seed {report.config.seed}",
        extra_css=RECORD_CSS,
        lead=filter_bar(),
        script=PAGE_SCRIPT,
    )
