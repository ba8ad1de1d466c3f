"""Self-contained HTML pages: no external CSS, fonts, scripts or images, so a report opens offline
and can be mailed or attached to a CI run as one file.

Generic on purpose (the audit and the evaluation reports both build on it):

    fig = Figure(figsize=(6, 3)); ax = fig.subplots(); ax.bar(...)
    page = html_page("My report", [Section("Numbers", table(["a", "b"], rows) + img(
        figure_to_data_uri(fig), "bar chart of a"))])

Everything passed in as plain ``str`` is escaped; wrap trusted, already-built HTML in ``Markup``
(the helpers here return ``Markup``), so a record's text can never inject markup into a report.
"""

from __future__ import annotations

import base64
import html
import io
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# PNG rather than SVG: matplotlib's SVG output embeds random ids and dates unless configured,
# while Agg PNGs are byte-identical for the same input, which keeps reports deterministic.
_PNG_METADATA = {"Software": None}


class Markup(str):
    """A string of trusted HTML; ``esc`` passes it through unchanged."""

    __slots__ = ()


def esc(value: Any) -> Markup:
    """HTML-escape anything (``Markup`` passes through)."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    if isinstance(value, float):
        value = f"{value:.4g}"
    return Markup(html.escape(str(value), quote=True))


def figure_to_data_uri(fig: Any, fmt: str = "png", dpi: int = 100, close: bool = True) -> str:
    """Render a matplotlib figure to a ``data:`` URI (PNG by default, or SVG).

    Works with a bare ``matplotlib.figure.Figure`` (no pyplot, no global state). Missing-glyph
    warnings (e.g. CJK labels with the default font) are not errors for a report, so they are
    silenced here rather than in every caller.
    """
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        warnings.filterwarnings("ignore", message="Matplotlib currently does not support")
        if fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
            mime = "image/svg+xml"
        else:
            fig.savefig(buf, format="png", dpi=dpi, metadata=_PNG_METADATA, bbox_inches="tight")
            mime = "image/png"
    if close:
        fig.clear()
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def new_figure(width: float = 6.4, height: float = 3.2) -> tuple[Any, Any]:
    """A pyplot-free figure and one axes (``Figure`` needs no GUI backend and no global state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots()


def img(data_uri: str, alt: str, css_class: str = "plot") -> Markup:
    """An ``<img>`` for a data URI; ``alt`` describes the plot for screen readers."""
    return Markup(f'<img class="{esc(css_class)}" alt="{esc(alt)}" src="{data_uri}">')


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    css_class: str = "",
    numeric: Sequence[int] = (),
) -> Markup:
    """A ``<table>``; cells are escaped unless they are ``Markup``; ``numeric`` columns (by
    index) align right."""
    num = set(numeric)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{esc(c)}</td>' if i in num else f"<td>{esc(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return Markup(
        f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def kv_table(items: Mapping[str, Any]) -> Markup:
    """A two-column key/value table."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items.items())
    return Markup(f'<table class="kv"><tbody>{rows}</tbody></table>')


def badge(text: str, level: str = "info") -> Markup:
    """A small coloured label; ``level`` is ``ok``, ``info``, ``warning`` or ``error``."""
    return Markup(f'<span class="badge {esc(level)}">{esc(text)}</span>')


def para(text: Any) -> Markup:
    return Markup(f"<p>{esc(text)}</p>")


def pre(text: Any) -> Markup:
    return Markup(f"<pre>{esc(text)}</pre>")


def bullets(items: Iterable[Any]) -> Markup:
    return Markup("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")


@dataclass(frozen=True)
class Section:
    """One titled part of a page. ``body`` is HTML (build it with the helpers above)."""

    title: str
    body: str
    anchor: str = ""

    @property
    def id(self) -> str:
        return self.anchor or slug(self.title)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


_CSS = """
:root { --fg:#1d2430; --muted:#5b6577; --line:#dde2ea; --bg:#ffffff; --soft:#f5f7fa;
        --ok:#1f7a3d; --info:#2458a6; --warning:#9a6100; --error:#b42318; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:var(--bg);
       font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",
            "PingFang SC","Microsoft YaHei",sans-serif; }
header { padding:20px 32px 12px; border-bottom:1px solid var(--line); background:var(--soft); }
header h1 { margin:0 0 4px; font-size:24px; }
header .sub { color:var(--muted); }
nav { padding:8px 32px; border-bottom:1px solid var(--line); font-size:14px; }
nav a { margin-right:16px; color:var(--info); text-decoration:none; }
main { padding:8px 32px 40px; max-width:1200px; }
section { margin-top:24px; }
h2 { font-size:20px; border-bottom:1px solid var(--line); padding-bottom:4px; }
h3 { font-size:16px; margin:18px 0 6px; }
table { border-collapse:collapse; margin:8px 0 12px; font-size:14px; }
th, td { border:1px solid var(--line); padding:4px 8px; text-align:left; vertical-align:top; }
thead th { background:var(--soft); }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
table.kv th { background:var(--soft); font-weight:600; }
pre { font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,"Noto Sans Mono CJK SC",monospace;
      background:var(--soft); border:1px solid var(--line); padding:8px; white-space:pre-wrap;
      word-break:break-word; max-height:240px; overflow:auto; font-size:13px; margin:4px 0; }
img.plot { max-width:100%; height:auto; border:1px solid var(--line); margin:6px 12px 6px 0; }
.plots { display:flex; flex-wrap:wrap; align-items:flex-start; }
.badge { display:inline-block; padding:0 8px; border-radius:10px; font-size:12px; color:#fff; }
.badge.ok { background:var(--ok); } .badge.info { background:var(--info); }
.badge.warning { background:var(--warning); } .badge.error { background:var(--error); }
.muted { color:var(--muted); }
.reading { margin:2px 0 10px; }
"""


def html_page(
    title: str,
    sections: Sequence[Section | tuple[str, str]],
    subtitle: str = "",
    extra_css: str = "",
    lead: str = "",
    script: str = "",
) -> str:
    """A complete, self-contained HTML document with a table of contents.

    Args:
        title: page title and heading (escaped).
        sections: ``Section`` objects or ``(title, body_html)`` pairs, in page order.
        subtitle: one line under the heading (escaped).
        extra_css: more CSS appended to the built-in style sheet.
        lead: HTML put at the top of ``<main>``, before the sections (a filter bar).
        script: inline JavaScript run at the end of the page (no ``src``: nothing is loaded).
    """
    secs = [s if isinstance(s, Section) else Section(s[0], s[1]) for s in sections]
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in secs)
    body = "\n".join(
        f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>\n{s.body}\n</section>' for s in secs
    )
    sub = f'<div class="sub">{esc(subtitle)}</div>' if subtitle else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # An empty icon stops browsers asking for /favicon.ico (a console error offline).
        '<link rel="icon" href="data:,">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}{extra_css}</style></head>\n"
        f"<body><header><h1>{esc(title)}</h1>{sub}</header>\n<nav>{nav}</nav>\n"
        f"<main>\n{lead}{body}\n</main>"
        + (f"<script>{script}</script>" if script else "")
        + "</body></html>\n"
    )
