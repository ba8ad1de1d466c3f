"""Named topics: the audit's k-means clusters, each labelled from its prompts' top terms.

The label is class-based TF-IDF (c-TF-IDF, as BERTopic uses): all prompts of a cluster form one
document; a term scores ``tf(term, cluster) * log(1 + A / f(term))`` with ``A`` the mean number
of words per cluster and ``f`` the term's count over all clusters, so a term frequent in one
cluster and rare elsewhere names it. Each topic shows its size, three prompts, and its share in
train vs test next to a uniform share, so over- and under-represented topics stand out.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate.records import Record
from curate.report.html import Markup, esc, img, para, table
from curate.report.records import first_user, one_line

TERMS = 3
SAMPLES = 3
# Prompts per cluster read for its terms and samples (first ones in input order:
# deterministic, and a million-row run does not tokenize a million prompts for a label).
MAX_PROMPTS_PER_CLUSTER = 2_000
OVER, UNDER = 2.0, 0.5  # share / uniform share beyond which a topic is flagged
MIN_EXPECTED_TEST = 5

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
STOP = frozenset(
    """the and for are but not you your with this that have from they will would there their
    what about which when make can like time just him know take into year good some could them
    see other than then now look only come its over think also back after use two how our work
    first well way even new want because any these give day most was were been has had does did
    doing done being very more much many such here where who whom why all each few both other
    same own should shall may might must one ones please tell explain write give show need help
    let get got into onto upon via using used while between through during before above below
    under again further once off out our ours yourself yourselves himself herself itself
    themselves something anything everything someone anyone everyone thing things way ways
    answer question questions sure okay hello thanks thank
    les des une est pour que qui dans par sur pas avec mon mes vous nous ceci cela
    los las una por para con que del como mis sus esto esta este
    der die das und ist nicht mit von ein eine ich sie wie""".split()
)


def terms_of(text: str) -> list[str]:
    """Lower-case words of 3+ letters without stop words; CJK runs as character bigrams."""
    out = []
    for w in _WORD.findall(text.lower()):
        if _CJK.search(w):
            chars = [c for c in w if _CJK.match(c)]
            out.extend(a + b for a, b in zip(chars, chars[1:], strict=False))
        elif w not in STOP:
            out.append(w)
    return out


def ctfidf_labels(docs: Sequence[Counter[str]], n_terms: int = TERMS) -> list[list[str]]:
    """The top ``n_terms`` c-TF-IDF terms of each class document (term counts per class)."""
    total: Counter[str] = Counter()
    for d in docs:
        total.update(d)
    avg = (sum(total.values()) / len(docs)) if docs else 0.0
    out = []
    for d in docs:
        size = sum(d.values()) or 1
        scored = sorted(
            ((c / size) * math.log(1 + avg / total[t]), t) for t, c in d.items() if c > 1
        )
        top = [t for _s, t in sorted(scored, key=lambda x: (-x[0], x[1]))[:n_terms]]
        if not top:  # tiny clusters: single occurrences are all there is
            top = [t for t, _c in d.most_common(n_terms)]
        out.append(top)
    return out


@dataclass(slots=True)
class Topic:
    label: str
    size: int
    share: float
    samples: list[str]
    by_split: dict[str, float] = field(default_factory=dict)  # share of each split's rows
    # Test records the topic would hold at its train share: below MIN_EXPECTED_TEST a
    # difference between its train and test shares is sampling noise, not a finding.
    expected_test: float = 0.0


# Per cluster: term -> [count, place of its first occurrence], and the first distinct
# sample prompts as (place, text). A place orders the prompts (row id, then the term's
# position in its prompt), so parts read on different workers merge to what one reader in
# that order gets: the same counts, terms in the same first-seen order (``most_common``
# breaks ties by it) and the same samples.
TopicTexts = tuple[list[dict[str, list[Any]]], list[list[tuple[int, str]]]]


def topic_texts(
    places: Sequence[int], labels: Sequence[int], k: int, data_of: Callable[[int], Any]
) -> TopicTexts:
    """The prompts' terms and samples of the rows at ``places`` (``data_of(place)``: the
    record's data), per cluster in ``labels``, in the order of ``places``: at most
    ``MAX_PROMPTS_PER_CLUSTER`` a cluster, the first ``SAMPLES`` distinct prompts each."""
    terms: list[dict[str, list[Any]]] = [{} for _ in range(k)]
    samples: list[list[tuple[int, str]]] = [[] for _ in range(k)]
    seen = [0] * k
    for place, c in zip(places, labels, strict=True):
        if seen[c] == MAX_PROMPTS_PER_CLUSTER:
            continue
        seen[c] += 1
        prompt = first_user(data_of(place))
        for at, term in enumerate(terms_of(prompt)):
            if term in terms[c]:
                terms[c][term][0] += 1
            else:
                terms[c][term] = [1, (place, at)]
        text = one_line(prompt, 160)
        if text and len(samples[c]) < SAMPLES and all(text != t for _p, t in samples[c]):
            samples[c].append((place, text))
    return terms, samples


def merge_topic_texts(parts: Sequence[TopicTexts], k: int) -> TopicTexts:
    """``topic_texts`` of disjoint sets of rows -> what one ``topic_texts`` of them all gives."""
    terms: list[dict[str, list[Any]]] = []
    samples: list[list[tuple[int, str]]] = []
    for c in range(k):
        both: dict[str, list[Any]] = {}
        for part_terms, _s in parts:
            for term, (count, place) in part_terms[c].items():
                got = both.setdefault(term, [0, place])
                got[0] += count
                got[1] = min(got[1], place)
        terms.append(both)
        shown: list[tuple[int, str]] = []
        for place, text in sorted((x for _t, s in parts for x in s[c]), key=lambda x: x[0]):
            if len(shown) < SAMPLES and all(text != t for _p, t in shown):
                shown.append((place, text))
        samples.append(shown)
    return terms, samples


def build_topics(
    records: Sequence[Record],
    topic_series: dict[str, Any],
    split_of: Callable[[Sequence[int]], list[str]] | None = None,
) -> tuple[list[Topic], list[str]]:
    """Topics largest first, and the split names seen (``train``, ``test``...).

    Args:
        records: the audited records (``topic_series["records"]`` indexes them).
        topic_series: ``AuditReport.series["topics"]``: ``records`` and ``labels`` arrays.
        split_of: record indices -> split name per index (``""`` for records not in a split).
    """
    idx = np.asarray(topic_series["records"])
    labels = np.asarray(topic_series["labels"])
    # ``sizes`` (the Ray audit's, vectors on the workers): the clusters' sizes, and the
    # series lists only each cluster's first MAX_PROMPTS_PER_CLUSTER rows, all read here.
    sizes = topic_series.get("sizes")
    n = int(np.sum(sizes)) if sizes is not None else len(idx)
    if n == 0 or len(idx) == 0:
        return [], []
    k = len(sizes) if sizes is not None else int(labels.max()) + 1
    size = (np.asarray(sizes) if sizes is not None else np.bincount(labels, minlength=k)).tolist()
    # The Ray engine reads the prompts on its workers (``texts``, placed by row id); else
    # they are read here, placed by their order in the series.
    texts = topic_series.get("texts")
    if texts is None:
        rows = idx.tolist()
        texts = topic_texts(range(len(rows)), labels.tolist(), k, lambda j: records[rows[j]].data)
    terms, placed = texts
    # Terms in first-seen order: ``ctfidf_labels``' ``most_common`` breaks ties by it.
    docs = [
        Counter({t: v[0] for t, v in sorted(ts.items(), key=lambda x: x[1][1])}) for ts in terms
    ]
    samples = [[text for _p, text in s] for s in placed]
    names = ctfidf_labels(docs)
    per: list[Counter[str]] = [Counter() for _ in range(k)]
    by_side = topic_series.get("by_side")
    if by_side is not None:  # every row's count per (topic, side), from the Ray workers
        for s, counts in by_side.items():
            for c, x in enumerate(np.asarray(counts).tolist()):
                if x:
                    per[c][s] += x
        side_total = Counter({s: int(np.sum(x)) for s, x in by_side.items() if np.sum(x)})
    else:
        sides = split_of(idx.tolist()) if split_of else [""] * len(idx)
        side_total = Counter(s for s in sides if s)
        for s, c in zip(sides, labels.tolist(), strict=True):
            if s:
                per[c][s] += 1
    order = sorted(range(k), key=lambda c: (-size[c], c))
    topics = []
    for c in order:
        if not size[c]:
            continue
        # Prompts made only of stop words ("Who are you?") have no terms: quote one instead.
        first = samples[c][0] if samples[c] else ""
        label = ", ".join(names[c]) or (f"“{one_line(first, 40)}”" if first else "")
        topics.append(
            Topic(
                label=label or f"cluster {c + 1}",
                size=size[c],
                share=size[c] / n,
                samples=samples[c],
                by_split={s: per[c][s] / t for s, t in side_total.items()},
                expected_test=side_total.get("test", 0) * per[c]["train"] / side_total["train"]
                if side_total.get("train")
                else 0.0,
            )
        )
    splits = [s for s in ("train", "val", "test") if s in side_total]
    return topics, splits


def _reading(t: Topic, uniform: float, splits: list[str]) -> str:
    notes = []
    ratio = t.share / uniform
    if ratio >= OVER:
        notes.append(f"over-represented: {ratio:.1f}× a uniform share")
    elif ratio <= UNDER:
        notes.append(f"under-represented: {ratio:.2f}× a uniform share")
    if "train" in splits and "test" in splits and t.expected_test >= MIN_EXPECTED_TEST:
        tr, te = t.by_split.get("train", 0.0), t.by_split.get("test", 0.0)
        if te == 0 and tr > 0:
            notes.append("absent from test")
        elif tr and (te / tr >= OVER or te / tr <= UNDER):
            notes.append(f"test share {te / tr:.1f}× its train share")
    return "; ".join(notes)


def _bar(share: float, scale: float, cls: str = "") -> Markup:
    width = 0 if scale <= 0 else round(120 * share / scale)
    return Markup(f'<span class="bar {cls}" style="width:{width}px"></span> {share:.1%}')


def topics_section(topics: list[Topic], splits: list[str], k: int) -> Markup:
    """The named-topics table (and a chart of train vs test share when there is a split)."""
    if len(topics) < 2:
        return para("Fewer than two topic clusters: nothing to compare.")
    uniform = 1.0 / k
    scale = max(
        max(t.share for t in topics), *(max(t.by_split.values(), default=0) for t in topics)
    )
    rows = []
    for n, t in enumerate(topics, start=1):
        split_cells = [_bar(t.by_split.get(s, 0.0), scale, s) for s in splits]
        rows.append(
            [
                n,
                Markup(f"<strong>{esc(t.label)}</strong>"),
                f"{t.size:,}",
                _bar(t.share, scale),
                *split_cells,
                Markup(
                    f'<span class="{_css(t, uniform)}">{esc(_reading(t, uniform, splits))}</span>'
                ),
                Markup("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in t.samples) + "</ul>"),
            ]
        )
    over = sum(1 for t in topics if t.share / uniform >= OVER)
    under = sum(1 for t in topics if t.share / uniform <= UNDER)
    head = para(
        f"{len(topics)} topics (k-means on the embeddings, k={k}); a uniform share would be "
        f"{uniform:.1%} each. {over} over-represented (≥ {OVER:g}× uniform), {under} "
        f"under-represented (≤ {UNDER:g}×). Labels: top c-TF-IDF terms of the prompts."
    )
    chart = _chart(topics, splits, uniform)
    return Markup(
        head
        + chart
        + table(
            [
                "#",
                "topic (top terms)",
                "records",
                "share",
                *[f"{s} share" for s in splits],
                "reading",
                "sample prompts",
            ],
            rows,
            css_class="topics",
            numeric=(0, 2),
        )
    )


def _css(t: Topic, uniform: float) -> str:
    r = t.share / uniform
    return "over" if r >= OVER else "under" if r <= UNDER else "muted"


def _chart(topics: list[Topic], splits: list[str], uniform: float) -> Markup:
    """Share per topic (per split when there is one) with the uniform share drawn."""
    from curate.report.html import new_figure
    from curate.report.plots import COLORS

    top = topics[:20]
    fig, ax = new_figure(7.5, max(3.0, 0.28 * len(top) + 1.2))
    pos = np.arange(len(top))
    series = {s: [t.by_split.get(s, 0.0) for t in top] for s in splits} or {
        "all": [t.share for t in top]
    }
    h = 0.8 / len(series)
    for j, (name, vals) in enumerate(series.items()):
        ax.barh(pos + (j - (len(series) - 1) / 2) * h, vals, h, label=name, color=COLORS[j])
    ax.axvline(uniform, color="#b42318", linestyle="--", linewidth=1, label="uniform share")
    ax.set_yticks(pos, [one_line(t.label, 40) for t in top], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of records")
    ax.set_title("Topics: share per split vs a uniform share")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    from curate.report.html import figure_to_data_uri

    return img(figure_to_data_uri(fig), "bar chart of topic shares per split with uniform share")
