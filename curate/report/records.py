"""Records on a report page: each one a ``<details>`` that opens to the full conversation.

Works without JavaScript (``<details>`` is native HTML). ``FILTER_SCRIPT`` is a small inline
script that adds a filter bar (finding, language, stratum, split, text search) over every
record on the page; it reads the ``data-*`` attributes written here and loads nothing.

Every piece of record text goes through ``esc``: a record holding ``<script>``, ``</details>``
or ``<img onerror=...>`` shows as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from curate.chat import content_text
from curate.report.html import Markup, esc

# A turn longer than this is folded: its opening shows, the rest opens on a click.
FOLD_CHARS = 600
FOLD_PREVIEW = 280
# At most this many characters of one message go into the page (the page must stay small on
# 1M-row inputs; the full text is in the data file at the line shown).
MAX_MESSAGE_CHARS = 4_000
# And at most this many characters of one record in all (a 200-turn conversation shows its
# first turns, then how many more there are): this bounds the page, see docs/report.md.
MAX_RECORD_CHARS = 8_000
MAX_RAW_CHARS = 2_000
SUMMARY_CHARS = 110

ROLES = ("system", "developer", "user", "assistant", "tool", "function")


@dataclass(slots=True)
class RecordView:
    """One record as a page shows it.

    Attributes:
        source: the file it came from; ``line``: its 1-based line there.
        data: the parsed record (``None`` for a line that could not be read).
        reason: why it is listed, in words (the finding's message, the reject's detail).
        finding / lang / stratum / split: filter values (empty when unknown).
        raw: the raw line, for unreadable lines.
    """

    source: str
    line: int
    data: Any
    reason: str = ""
    finding: list[str] = field(default_factory=list)
    lang: str = ""
    stratum: str = ""
    split: str = ""
    raw: str = ""


def clip(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to ``limit`` characters, and how many were cut."""
    return (text, 0) if len(text) <= limit else (text[:limit], len(text) - limit)


def one_line(text: str, limit: int = SUMMARY_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _text_block(text: str, limit: int = MAX_MESSAGE_CHARS) -> Markup:
    shown, cut = clip(text, limit)
    more = (
        f'<span class="cut">… {cut:,} more characters (see the file at this line)</span>'
        if cut
        else ""
    )
    if len(shown) <= FOLD_CHARS:
        return Markup(f'<div class="txt">{esc(shown)}{more}</div>')
    return Markup(
        f'<details class="turn"><summary>{esc(shown[:FOLD_PREVIEW])}'
        f'<span class="muted"> … ({len(text):,} characters, click to unfold)</span></summary>'
        f'<div class="txt">{esc(shown)}{more}</div></details>'
    )


def _message(m: Any, limit: int = MAX_MESSAGE_CHARS) -> Markup:
    if not isinstance(m, Mapping):
        text = clip(_json(m), min(limit, MAX_RAW_CHARS))[0]
        return Markup(f'<div class="msg role-other"><pre>{esc(text)}</pre></div>')
    role = str(m.get("role", "?"))
    cls = role if role in ROLES else "other"
    parts = [f'<div class="msg role-{cls}"><span class="role">{esc(role)}</span>']
    parts.append(_text_block(content_text(m.get("content")), limit))
    extra = {k: v for k, v in m.items() if k in ("tool_calls", "name", "tool_call_id")}
    if extra:
        parts.append(f'<pre class="tools">{esc(clip(_json(extra), MAX_RAW_CHARS)[0])}</pre>')
    parts.append("</div>")
    return Markup("".join(parts))


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def first_user(data: Any) -> str:
    """The first user turn's text (what a list of records shows in its one-line summary)."""
    msgs = data.get("messages") if isinstance(data, dict) else None
    if isinstance(msgs, list):
        for m in msgs:
            if isinstance(m, Mapping) and m.get("role") == "user":
                return content_text(m.get("content"))
        if msgs and isinstance(msgs[0], Mapping):
            return content_text(msgs[0].get("content"))
    return ""


def record_body(data: Any, raw: str = "") -> Markup:
    """The full record: messages with coloured roles (long turns folded), then other fields."""
    msgs = data.get("messages") if isinstance(data, dict) else None
    out: list[str] = []
    if isinstance(msgs, list):
        out.append('<div class="msgs">')
        budget = MAX_RECORD_CHARS
        for k, m in enumerate(msgs):
            if budget <= 0:
                out.append(
                    f'<div class="cut">… {len(msgs) - k:,} more messages (see the file at '
                    "this line)</div>"
                )
                break
            limit = min(MAX_MESSAGE_CHARS, budget)
            out.append(_message(m, limit))
            text = content_text(m.get("content")) if isinstance(m, Mapping) else ""
            budget -= min(len(text), limit) + 50  # a message's frame counts too
        out.append("</div>")
        rest = {k: v for k, v in data.items() if k != "messages"}
        if rest:
            out.append(f'<pre class="fields">{esc(clip(_json(rest), MAX_RAW_CHARS)[0])}</pre>')
    elif data is not None:
        out.append(f'<pre class="fields">{esc(clip(_json(data), MAX_RAW_CHARS)[0])}</pre>')
    if raw:
        out.append(f'<pre class="raw">{esc(clip(raw, MAX_RAW_CHARS)[0])}</pre>')
    return Markup("".join(out))


def render_record(view: RecordView, open_: bool = False) -> Markup:
    """One record as ``<details class="rec">`` with its filter attributes."""
    attrs = (
        f' data-finding="{esc(" ".join(view.finding))}" data-lang="{esc(view.lang)}"'
        f' data-stratum="{esc(view.stratum)}" data-split="{esc(view.split)}"'
    )
    where = f"{view.source}:{view.line}"
    gist = one_line(first_user(view.data) or view.raw or "(no text)")
    tags = "".join(
        f'<span class="tag">{esc(t)}</span>' for t in (view.split, view.lang, view.stratum) if t
    )
    reason = f'<div class="why">{esc(view.reason)}</div>' if view.reason else ""
    return Markup(
        f'<details class="rec"{attrs}{" open" if open_ else ""}><summary>'
        f'<code class="where">{esc(where)}</code> {tags} <span class="gist">{esc(gist)}</span>'
        f"</summary>{reason}{record_body(view.data, view.raw)}</details>"
    )


def record_list(views: Iterable[RecordView], total: int, cap: int, what: str) -> Markup:
    """Records under a heading line that states how many are shown of how many."""
    items = list(views)
    note = (
        f"{len(items):,} of {total:,} {what} shown (the page lists at most {cap:,}; "
        "all are in the JSON report / rejects file)."
        if total > len(items)
        else f"All {total:,} {what}."
    )
    return Markup(
        f'<p class="muted count">{esc(note)}</p><div class="recs">'
        + "".join(render_record(v) for v in items)
        + "</div>"
    )


RECORD_CSS = """
details.rec { border:1px solid var(--line); border-radius:4px; margin:4px 0; background:#fff; }
details.rec > summary { cursor:pointer; padding:4px 8px; list-style-position:inside; }
details.rec[open] > summary { background:var(--soft); border-bottom:1px solid var(--line); }
details.rec .why { padding:4px 10px; color:var(--warning); font-size:14px; }
code.where { color:var(--info); }
.tag { display:inline-block; font-size:11px; padding:0 6px; border-radius:8px;
       background:#e8edf5; color:var(--muted); margin-right:2px; }
.gist { color:var(--fg); }
.msgs { padding:6px 10px; }
.msg { border-left:4px solid #b8c0cc; padding:2px 8px; margin:4px 0; background:#fafbfc; }
.msg .role { font-size:12px; font-weight:600; text-transform:uppercase; color:var(--muted); }
.msg .txt { white-space:pre-wrap; word-break:break-word; }
.msg.role-system, .msg.role-developer { border-color:#6b4fbb; background:#f6f3fc; }
.msg.role-user { border-color:#2458a6; background:#f1f5fb; }
.msg.role-assistant { border-color:#1f7a3d; background:#f1f8f3; }
.msg.role-tool, .msg.role-function { border-color:#d9822b; background:#fdf6ee; }
.msg.role-other { border-color:#b42318; background:#fdf1f0; }
.cut { color:var(--error); font-size:12px; margin-left:4px; }
details.turn > summary { cursor:pointer; white-space:pre-wrap; }
details.turn[open] > summary { display:none; }
details.group { margin:8px 0; border-left:3px solid var(--line); padding-left:8px; }
details.group > summary { cursor:pointer; font-weight:600; }
.filters { position:sticky; top:0; z-index:2; background:#fff; border:1px solid var(--line);
           padding:6px 10px; margin:8px 0; display:flex; gap:10px; flex-wrap:wrap;
           align-items:center; font-size:14px; }
.filters[hidden] { display:none; }
.filters input { min-width:220px; }
.hidden-by-filter { display:none; }
.sbs { display:grid; grid-template-columns:1fr 1fr; gap:8px; margin:6px 0; }
.sbs > div { border:1px solid var(--line); padding:4px 8px; overflow:auto; }
.sbs .kept { background:#f1f8f3; } .sbs .removed { background:#fdf1f0; }
.sbs .txt { white-space:pre-wrap; word-break:break-word; font-size:13px; max-height:320px;
            overflow:auto; }
ins.d { background:#b7e4c0; text-decoration:none; } del.d { background:#f6c4bf; }
.bar { display:inline-block; height:10px; background:var(--info); vertical-align:middle; }
.bar.test { background:#d9822b; }
.over { color:var(--error); } .under { color:var(--info); }
table.topics ul { margin:0; padding-left:16px; font-size:13px; }
table.topics td:nth-child(4), table.topics td:nth-child(5),
table.topics td:nth-child(6) { white-space:nowrap; }
.tok { white-space:pre-wrap; word-break:break-word; font-family:ui-monospace,monospace;
       font-size:13px; background:var(--soft); border:1px solid var(--line); padding:8px; }
.tok .loss { background:#c9ecd2; outline:1px solid #8fd19e; }
.tok .cutoff { background:#eee; color:#999; text-decoration:line-through; }
.tok .trunc { display:block; color:#fff; background:var(--error); font-weight:600;
              padding:0 6px; margin:4px 0; }
"""

# Adds the filter bar. Without JavaScript the page is complete; with it, a user narrows every
# record list at once. Pure DOM, no network; values come from the records' data-* attributes.
FILTER_SCRIPT = """
(function () {
  var bar = document.getElementById('filters');
  if (!bar) return;
  var recs = Array.prototype.slice.call(document.querySelectorAll('details.rec'));
  var keys = ['finding', 'lang', 'stratum', 'split'];
  var selects = {};
  keys.forEach(function (k) {
    var values = {};
    recs.forEach(function (r) {
      (r.dataset[k] || '').split(' ').forEach(function (v) { if (v) values[v] = 1; });
    });
    var sel = bar.querySelector('select[data-key="' + k + '"]');
    Object.keys(values).sort().forEach(function (v) {
      var o = document.createElement('option'); o.value = v; o.textContent = v;
      sel.appendChild(o);
    });
    if (Object.keys(values).length < 2) sel.parentNode.style.display = 'none';
    selects[k] = sel;
    sel.addEventListener('change', apply);
  });
  var q = bar.querySelector('input[type=search]');
  var shown = bar.querySelector('.shown');
  q.addEventListener('input', apply);
  function apply() {
    var text = q.value.trim().toLowerCase();
    var n = 0;
    recs.forEach(function (r) {
      var ok = keys.every(function (k) {
        var want = selects[k].value;
        return !want || (r.dataset[k] || '').split(' ').indexOf(want) >= 0;
      }) && (!text || r.textContent.toLowerCase().indexOf(text) >= 0);
      r.classList.toggle('hidden-by-filter', !ok);
      if (ok) n++;
    });
    shown.textContent = n + ' of ' + recs.length + ' records match';
    document.body.setAttribute('data-matching', String(n));
  }
  bar.hidden = false;
  apply();
})();
"""


def filter_bar() -> Markup:
    """The filter bar (hidden until the script fills it in; without JS it stays hidden)."""
    labels = {"finding": "finding", "lang": "language", "stratum": "stratum", "split": "split"}
    selects = "".join(
        f'<label>{esc(label)} <select data-key="{esc(key)}"><option value="">all</option>'
        "</select></label>"
        for key, label in labels.items()
    )
    return Markup(
        '<div id="filters" class="filters" hidden><strong>Filter records</strong>'
        f'{selects}<label>text <input type="search" placeholder="search record text"></label>'
        '<span class="shown muted"></span></div>'
    )


# A link to a finding (#finding-code) opens its <details>, and those it sits in.
OPEN_SCRIPT = """
(function () {
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    while (el) { if (el.tagName === 'DETAILS') el.open = true; el = el.parentElement; }
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
})();
"""

PAGE_SCRIPT = OPEN_SCRIPT + FILTER_SCRIPT
