"""Duplicates and leaks side by side: the kept record, each removed one, what differs.

``collect_dupes`` turns dedup's clusters into small plain dicts right after dedup (the removed
records are freed soon after), keeping only the largest clusters (``MAX_CLUSTERS``, each with
at most ``MAX_REMOVED_SHOWN`` removed members); ``dupes_section`` renders them with the
differing words highlighted, and one similarity histogram per method with its threshold drawn.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from curate.records import Record
from curate.report.html import Markup, esc, img, para, table
from curate.report.records import clip

MAX_CLUSTERS = 30
MAX_REMOVED_SHOWN = 5
MAX_PAIRS_SHOWN = 20
DIFF_CHARS = 3_000
METHOD_WORDS = {
    "exact": "identical after normalisation (case, whitespace, punctuation as configured)",
    "near": "MinHash candidates verified on word-shingle Jaccard similarity",
    "semantic": "embedding cosine similarity",
}
_TOKEN = re.compile(r"\s+|[^\s]+")


def _side(record: Record, key_text: str) -> dict[str, Any]:
    return {"where": f"{record.source}:{record.line}", "text": clip(key_text, DIFF_CHARS)[0]}


def collect_dupes(
    records: Sequence[Record],
    dres: Any,
    text_of: Any,
    max_clusters: int = MAX_CLUSTERS,
) -> dict[str, Any]:
    """The page's view of a ``DedupResult``: largest clusters first, explain data, slot guard.

    Args:
        records: the records dedup saw (cluster members index them).
        dres: the ``DedupResult``.
        text_of: record -> the text dedup compared (its key text).
        max_clusters: clusters kept for the page.
    """
    clusters = sorted(
        dres.clusters,
        key=lambda c: (
            -len(c.members),
            ("exact", "near", "semantic").index(c.method)
            if c.method in ("exact", "near", "semantic")
            else 9,
            c.members[0],
        ),
    )
    shown = []
    for c in clusters[:max_clusters]:
        removed = list(c.removed)
        shown.append(
            {
                "method": c.method,
                "size": len(c.members),
                "keep": _side(records[c.keep], text_of(records[c.keep])),
                "removed": [
                    {**_side(records[m], text_of(records[m])), "similarity": c.similarity_of(m)}
                    for m in removed[:MAX_REMOVED_SHOWN]
                ],
                "more": max(0, len(removed) - MAX_REMOVED_SHOWN),
            }
        )
    apart = [
        {
            "a": _side(records[i], text_of(records[i])),
            "b": _side(records[j], text_of(records[j])),
            "similarity": s,
        }
        for i, j, s in getattr(dres, "kept_apart", [])[:MAX_PAIRS_SHOWN]
    ]
    leaks = [
        {
            "method": lk.method,
            "similarity": lk.similarity,
            "a": _side(lk.match, text_of(lk.match)),
            "b": _side(lk.record, text_of(lk.record)),
        }
        for lk in getattr(dres, "leaks", [])[:MAX_PAIRS_SHOWN]
    ]
    config = dres.stats.get("config", {})
    return {
        "leaks": leaks,
        "total_leaks": len(getattr(dres, "leaks", [])),
        "clusters": shown,
        "total_clusters": len(dres.clusters),
        "by_method": {
            m: {
                "clusters": dres.stats.get("clusters", {}).get(m, 0),
                "removed": dres.stats.get("removed", {}).get(m, 0),
            }
            for m in config.get("methods", [])
        },
        "explain": dres.explain,
        "kept_apart": apart,
        "slot_guard_rejected": dres.stats.get("semantic_pairs_rejected_by_slot_guard"),
    }


def diff_html(a: str, b: str) -> tuple[Markup, Markup]:
    """``a`` and ``b`` with the words only one of them has marked (``del`` / ``ins``)."""
    if a == b:  # exact duplicates: nothing to mark
        return Markup(esc(a)), Markup(esc(b))
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    # The shared head and tail are equal as they are; only the middle goes to difflib,
    # whose matcher is quadratic in the tokens it sees (near duplicates differ in a few
    # words of a few thousand).
    head = 0
    top = min(len(ta), len(tb))
    while head < top and ta[head] == tb[head]:
        head += 1
    tail = 0
    while tail < top - head and ta[-1 - tail] == tb[-1 - tail]:
        tail += 1
    ma, mb = ta[head : len(ta) - tail], tb[head : len(tb) - tail]
    sm = difflib.SequenceMatcher(None, ma, mb, autojunk=False)
    pre = esc("".join(ta[:head]))
    left, right = [pre], [pre]
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        sa, sb = "".join(ma[i1:i2]), "".join(mb[j1:j2])
        if op == "equal":
            left.append(esc(sa))
            right.append(esc(sb))
        else:
            if sa:
                left.append(Markup(f'<del class="d">{esc(sa)}</del>'))
            if sb:
                right.append(Markup(f'<ins class="d">{esc(sb)}</ins>'))
    post = esc("".join(ta[len(ta) - tail :]))
    left.append(post)
    right.append(post)
    return Markup("".join(left)), Markup("".join(right))


def side_by_side(
    left: Mapping[str, Any], right: Mapping[str, Any], head_left: str, head_right: str
) -> Markup:
    a, b = diff_html(left["text"], right["text"])
    return Markup(
        '<div class="sbs">'
        f'<div class="kept"><div class="muted">{esc(head_left)} '
        f'<code class="where">{esc(left["where"])}</code></div><div class="txt">{a}</div></div>'
        f'<div class="removed"><div class="muted">{esc(head_right)} '
        f'<code class="where">{esc(right["where"])}</code></div><div class="txt">{b}</div></div>'
        "</div>"
    )


def _histogram(method: str, info: Mapping[str, Any]) -> Markup:
    from curate.report.html import figure_to_data_uri, new_figure

    hist = info.get("histogram") or []
    if sum(h["records"] for h in hist) == 0:
        return Markup("")
    fig, ax = new_figure(5.4, 3.0)
    thr = float(info["threshold"])
    lefts = [h["from"] for h in hist]
    widths = [h["to"] - h["from"] for h in hist]
    colors = ["#b42318" if h["to"] > thr else "#2458a6" for h in hist]
    ax.bar(lefts, [h["records"] for h in hist], widths, align="edge", color=colors)
    ax.axvline(thr, color="#1d2430", linestyle="--", linewidth=1.2)
    ax.text(thr, ax.get_ylim()[1] * 0.95, f" threshold {thr:g}", va="top", fontsize=8)
    ax.set_yscale("symlog")
    ax.set_xlabel("similarity to the most similar other record")
    ax.set_ylabel("records")
    ax.set_title(f"{method}: best-match similarity per record")
    ax.grid(axis="y", alpha=0.3)
    return img(figure_to_data_uri(fig), f"histogram of {method} similarities with the threshold")


def dupes_section(
    data: Mapping[str, Any] | None,
    leaks: Sequence[Mapping[str, Any]] = (),
    body: Markup | None = None,
) -> Markup:
    """Duplicate clusters (largest first), threshold histograms, slot-guard pairs, leaks.

    ``body``: ``dupes_body(data)`` when already made (``curate run`` makes it in a worker
    while the audit and the split run: it needs dedup's result only).
    """
    if not data:
        return para("Dedup did not run.")
    if body is None:
        body = dupes_body(data)
    return Markup(body + _split_leaks(leaks))


def dupes_body(data: Mapping[str, Any]) -> Markup:
    """The section without the leaks across splits: dedup's clusters, histograms, pairs."""
    out = []
    rows = [
        [m, METHOD_WORDS.get(m, ""), f"{v['clusters']:,}", f"{v['removed']:,}"]
        for m, v in data["by_method"].items()
    ]
    out.append(table(["method", "what it compares", "clusters", "removed"], rows, numeric=(2, 3)))
    plots = [_histogram(m, info) for m, info in (data.get("explain") or {}).items()]
    if any(plots):
        out.append(
            para(
                "Each histogram counts records by their similarity to their most similar "
                "candidate; bars right of the dashed threshold (red) are removed. A tall bar "
                "just left of it is what lowering the threshold would remove next."
            )
        )
        out.append(Markup('<div class="plots">') + Markup("".join(plots)) + Markup("</div>"))
    for method, info in (data.get("explain") or {}).items():
        near = [("just above", p) for p in info.get("above", [])] + [
            ("just below", p) for p in info.get("below", [])
        ]
        if not near:
            continue
        items = []
        for where, p in near:
            apart = p.get("kept_apart")
            flag = f" · slot guard kept them apart ({apart})" if apart else ""
            items.append(
                Markup(
                    f'<details class="group"><summary>{esc(method)} {esc(where)} the threshold: '
                    f"similarity {p['similarity']:.4f}{esc(flag)}</summary>"
                )
                + side_by_side(
                    {"where": str(p["a"]["id"]), "text": p["a"]["text"]},
                    {"where": str(p["b"]["id"]), "text": p["b"]["text"]},
                    "a",
                    "b",
                )
                + Markup("</details>")
            )
        out.append(
            Markup(f"<h3>{esc(method)}: pairs around the threshold {info['threshold']:g}</h3>")
            + Markup("".join(items))
        )
    clusters = data["clusters"]
    out.append(Markup("<h3>Clusters, largest first</h3>"))
    if not clusters:
        out.append(para("No duplicates found."))
    else:
        out.append(
            para(
                f"{len(clusters)} of {data['total_clusters']:,} clusters shown (at most "
                f"{MAX_CLUSTERS}, each with at most {MAX_REMOVED_SHOWN} removed members); "
                "every removed record is in rejects.jsonl with duplicate_of and similarity."
            )
        )
    for n, c in enumerate(clusters, start=1):
        parts = [
            Markup(
                f'<details class="group dup"{" open" if n <= 3 else ""}><summary>#{n} '
                f"{esc(c['method'])} · {c['size']} records · kept "
                f'<code class="where">{esc(c["keep"]["where"])}</code></summary>'
            )
        ]
        for r in c["removed"]:
            parts.append(
                Markup(
                    f'<div class="muted">removed, {esc(c["method"])} similarity '
                    f"{r['similarity']:.4f}</div>"
                )
                + side_by_side(c["keep"], r, "kept", "removed")
            )
        if c["more"]:
            parts.append(para(f"… and {c['more']} more removed members."))
        parts.append(Markup("</details>"))
        out.append(Markup("".join(parts)))
    apart = data.get("kept_apart") or []
    n_apart = data.get("slot_guard_rejected")
    if n_apart is not None:
        out.append(Markup("<h3>Kept apart by the slot guard</h3>"))
        out.append(
            para(
                f"{n_apart:,} semantic pairs over the threshold were kept apart because they "
                "carry different slot values (numbers, names, dates: a filled template, not a "
                f"copy). {len(apart)} shown."
            )
        )
        for k, p in enumerate(apart):
            out.append(
                Markup(
                    f'<details class="group"{" open" if k == 0 else ""}><summary>cosine '
                    f'{p["similarity"]:.4f}, kept both: <code class="where">{esc(p["a"]["where"])}'
                    f'</code> and <code class="where">{esc(p["b"]["where"])}</code></summary>'
                )
                + side_by_side(p["a"], p["b"], "record", "record")
                + Markup("</details>")
            )
    against = data.get("leaks") or []
    if against:
        out.append(Markup("<h3>Leaks against other files</h3>"))
        out.append(
            para(
                f"{data.get('total_leaks', len(against)):,} input records duplicate a record of "
                f"a file given with --against; {len(against)} shown (all are in rejects.jsonl "
                "as leaked, or listed in the JSON report when leaks are only flagged)."
            )
        )
        for lk in against:
            out.append(
                Markup(
                    f'<div class="muted">{esc(lk["method"])} similarity '
                    f"{lk['similarity']:.4f}</div>"
                )
                + side_by_side(lk["a"], lk["b"], "in the other file", "in this input")
            )
    return Markup("".join(out))


def _split_leaks(leaks: Sequence[Mapping[str, Any]]) -> Markup:
    out = [Markup("<h3>Leaks across splits</h3>")]
    if leaks:
        out.append(para(f"{len(leaks)} leaking pairs (first ones shown)."))
        for lk in leaks:
            out.append(
                Markup(f'<div class="muted">{esc(lk["method"])} match</div>')
                + side_by_side(
                    lk["a"], lk["b"], lk.get("side_a", "record"), lk.get("side_b", "duplicate of")
                )
            )
    else:
        out.append(para("No record of one split duplicates a record of another."))
    return Markup("".join(out))
