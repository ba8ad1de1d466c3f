"""``eval.html``: verdict, comparisons with confidence intervals, metric tables, regression
findings and the side-by-side examples, worst first (built on curate.report.html).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from curate.evaluate.pairs import Generation
from curate.evaluate.stats import format_p
from curate.report.html import (
    Markup,
    Section,
    badge,
    bullets,
    esc,
    figure_to_data_uri,
    html_page,
    img,
    kv_table,
    new_figure,
    para,
    table,
)

_OUTCOME_RANK = {"base": 0, "tie": 1, "unparsable": 1, "unrated": 1, "tuned": 2}
_CSS = """
.pair { display:grid; grid-template-columns:1fr 1fr; gap:12px; }
.pair > div { min-width:0; }
.example pre { overflow-wrap:anywhere; }
.example { border:1px solid var(--line); border-radius:6px; padding:6px 12px; margin:12px 0; }
.example h3 { margin:6px 0; }
"""


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _ci(pair: Sequence[float]) -> str:
    return f"[{100 * pair[0]:.1f}%, {100 * pair[1]:.1f}%]"


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def _delta(x: float | None) -> str:
    return "" if x is None else f"{x:+.3f}"


def _metric_table(metrics: Mapping[str, Mapping[str, float | None]]) -> Markup:
    rows = [(m, _num(v["base"]), _num(v["tuned"]), _delta(v["delta"])) for m, v in metrics.items()]
    return table(["metric", "base", "fine-tune", "difference"], rows, "metrics", numeric=(1, 2, 3))


def _label_table(by_label: Mapping[str, Mapping[str, Any]]) -> Markup:
    names = list(next(iter(by_label.values()))["metrics"])
    rows = []
    for label, block in by_label.items():
        cells = [
            f"{_num(v['base'])} \u2192 {_num(v['tuned'])}" if (v := block["metrics"].get(m)) else ""
            for m in names
        ]
        comp = block.get("comparison")
        signs = (
            (f"{comp['wins']}/{comp['ties']}/{comp['losses']}", format_p(comp["p_value"]))
            if comp
            else ("", "")
        )
        rows.append((label, block["n"], *cells, *signs))
    numeric = tuple(range(1, len(names) + 4))
    head = ["category", "n", *names, "wins/ties/losses", "sign test p"]
    return table(head, rows, "by-label", numeric=numeric)


def _comparisons(comps: Mapping[str, Mapping[str, Any]]) -> Markup:
    rows = []
    for c in comps.values():
        rows.append(
            (
                c["source"],
                c["wins"],
                c["ties"],
                c["losses"],
                c["unrated"],
                f"{_pct(c['win_rate'])} {_ci(c['win_rate_ci95'])}",
                f"{_pct(c['loss_rate'])} {_ci(c['loss_rate_ci95'])}",
                format_p(c["p_value"]),
                badge("ok", "ok") if c["enough"] else badge("< 50 rated", "warning"),
            )
        )
    head = [
        "source",
        "fine-tune wins",
        "ties",
        "base wins",
        "unrated",
        "win rate [95% CI]",
        "loss rate [95% CI]",
        "sign test p",
        "size",
    ]
    return table(head, rows, "comparisons", numeric=(1, 2, 3, 4, 7))


def _chart(comps: Mapping[str, Mapping[str, Any]]) -> Markup:
    fig, ax = new_figure(6.4, 1.1 + 0.45 * len(comps))
    names = list(comps)
    left = [0.0] * len(names)
    for key, colour, label in (
        ("wins", "#1f7a3d", "fine-tune wins"),
        ("ties", "#9aa3b2", "ties"),
        ("losses", "#b42318", "base wins"),
    ):
        vals = [comps[n][key] / comps[n]["rated"] if comps[n]["rated"] else 0 for n in names]
        ax.barh([comps[n]["source"] for n in names], vals, left=left, color=colour, label=label)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of rated comparisons")
    # Above the axes, where it can never cover a bar or the axis label.
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    return img(figure_to_data_uri(fig), "win, tie and loss shares of the fine-tune per source")


def _outcome(ex: Mapping[str, Any]) -> str:
    if "human" in ex:
        return ex["human"]
    if "judge" in ex:
        return ex["judge"]["outcome"]
    return "tuned" if ex["delta"] > 0 else "base" if ex["delta"] < 0 else "tie"


def _examples(report: Mapping[str, Any], gens: Sequence[Generation], limit: int) -> Markup:
    by_id = {g.id: g for g in gens}
    primary = report["settings"]["primary_metric"]
    order = sorted(
        enumerate(report["examples"]),
        key=lambda p: (_OUTCOME_RANK.get(_outcome(p[1]), 1), p[1]["delta"], p[0]),
    )
    parts = [
        para(
            f"Worst first for the fine-tune (by {report['decided_by']}, then "
            f"{primary} difference); {min(limit, len(order))} of {len(order)} shown."
        )
    ]
    for _, ex in order[:limit]:
        g = by_id[ex["id"]]
        outcome = _outcome(ex)
        level = {"base": "error", "tuned": "ok"}.get(outcome, "info")
        prompt = "\n\n".join(f"[{m['role']}] {m['content']}" for m in g.prompt)
        scores = f"{primary}: base {ex['base'][primary]:.3f}, fine-tune {ex['tuned'][primary]:.3f}"
        reasons = ""
        if "judge" in ex:
            j = ex["judge"]
            reasons = bullets(
                [
                    f"judge, base shown first: {j['order_base_first']}: {j['reason_base_first']}",
                    f"judge, fine-tune shown first: {j['order_tuned_first']}: "
                    f"{j['reason_tuned_first']}",
                ]
            )
        label = f" [{ex['label']}]" if ex.get("label") else ""
        parts.append(
            Markup(
                f'<div class="example"><h3>{esc(ex["id"])}{esc(label)} {badge(outcome, level)}</h3>'
                f'<div class="muted">{esc(ex["source"])}:{ex["line"]}; {esc(scores)}</div>'
                f"<pre>{esc(prompt)}</pre><details><summary>reference</summary>"
                f"<pre>{esc(g.reference)}</pre></details>"
                f'<div class="pair"><div><b>base</b><pre>{esc(g.base)}</pre></div>'
                f"<div><b>fine-tune</b><pre>{esc(g.tuned)}</pre></div></div>{reasons}</div>"
            )
        )
    return Markup("".join(parts))


def render_html(report: Mapping[str, Any], gens: Sequence[Generation], limit: int = 50) -> str:
    """The self-contained report page for an ``eval.json`` dict and its generations."""
    verdict_level = "ok" if report["win"] else "warning"
    head = Markup(
        f"<p>{badge('fine-tune wins' if report['win'] else 'no significant win', verdict_level)} "
        f"<b>{esc(report['verdict'])}</b></p>"
    )
    if report["notes"]:
        head = Markup(head + bullets(report["notes"]))
    comps = report["comparisons"]
    sections = [
        Section("Verdict", head),
        Section("Comparisons", Markup(_comparisons(comps) + _chart(comps))),
    ]
    metrics = report["metrics"]
    body = Markup(
        para(f"{metrics['n']} examples; mean per example.") + _metric_table(metrics["metrics"])
    )
    if metrics["by_label"]:
        body = Markup(body + Markup("<h3>Per category</h3>") + _label_table(metrics["by_label"]))
    sections.append(Section("Task metrics", body))
    reg = report.get("regression")
    if reg:
        flagged = [f"{f['metric']}: {f['base']:.3f} -> {f['tuned']:.3f}" for f in reg["flagged"]]
        status = (
            badge(f"{len(flagged)} regressions", "error")
            if flagged
            else badge("no regression", "ok")
        )
        sections.append(
            Section(
                "Regression check",
                Markup(
                    para(
                        f"{reg['data']['evaluated']} examples of {reg['data']['path']}; threshold "
                        f"{reg['threshold']}"
                    )
                    + status
                    + (bullets(flagged) if flagged else Markup(""))
                    + _metric_table(reg["metrics"])
                ),
            )
        )
    sections.append(Section("Examples", _examples(report, gens, limit)))
    data = report["data"]
    sections.append(
        Section(
            "Settings",
            Markup(kv_table({**report["settings"], **{f"data.{k}": v for k, v in data.items()}})),
        )
    )
    return html_page(
        "Evaluation: fine-tune vs base", sections, subtitle=report["verdict"], extra_css=_CSS
    )
