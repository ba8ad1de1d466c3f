"""``curate audit --engine ray``: the local report from aggregates merged on a 2-node cluster."""

from __future__ import annotations

import json
import pickle
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from curate.audit.shape import summarize
from curate.cli import main
from curate.engine.ray_audit import _weighted_median, summarize_hist
from tests.engine.helpers import audit_set

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::ResourceWarning",
)


def test_histogram_statistics_equal_numpy_over_the_series() -> None:
    # The driver only has value counts; its percentiles, mean and medians must be the
    # numbers numpy gives over the full series, to the last bit.
    rng = random.Random(1)
    for n in [1, 2, 3, 4, 5, 7, 10, 11, 99, 100, 101, 1000, 1001, 4321]:
        for spread in (3, 50, 100_000):
            values = [rng.randint(0, spread) for _ in range(n)]
            assert summarize_hist(Counter(values)) == summarize(values), (n, spread)
            keys = sorted(set(values))
            logs = np.log1p(np.asarray(keys, dtype=float))
            counts = np.asarray([values.count(k) for k in keys]) if n < 2000 else None
            if counts is not None:
                assert _weighted_median(logs, counts) == float(np.median(np.log1p(values)))
    assert summarize_hist(Counter()) == summarize([])


def test_hist_series_reads_and_draws_as_the_expanded_series() -> None:
    # The page's plot series stay histograms on the driver (nothing per row); read as a
    # sequence and drawn, they must be the series in value order, byte for byte.
    from array import array

    from curate.engine.ray_audit import HistSeries
    from curate.report.plots import histogram

    rng = random.Random(2)
    hist = Counter(rng.choice([1, 2, 3, 5, 40, 900, 12000]) for _ in range(5000))
    series = HistSeries(hist)
    expanded = array("q", sorted(hist.elements()))
    assert len(series) == len(expanded) and list(series) == list(expanded)
    assert series[0] == expanded[0] and series[-1] == expanded[-1] and series[777] == expanded[777]
    assert np.array_equal(np.asarray(series, dtype=float), np.asarray(expanded, dtype=float))
    assert set(series) == set(hist) and not HistSeries(Counter())
    for kw in ({"log_x": True}, {"discrete": True}):
        assert histogram({"a": series}, "t", **kw) == histogram({"a": expanded}, "t", **kw)

    # The page draws it from its values and counts, never one value per row (the driver's
    # memory stays flat in the rows while it writes the page).
    class Unexpanded(HistSeries):
        def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
            raise AssertionError("a HistSeries expanded to one value per row")

        def __iter__(self) -> Iterator[int]:
            raise AssertionError("a HistSeries expanded to one value per row")

    other = Counter(rng.choice([2, 7, 300]) for _ in range(800))
    for kw in ({"log_x": True}, {"discrete": True}, {}):
        two = {"a": Unexpanded(hist), "b": Unexpanded(other)}
        want = {"a": expanded, "b": array("q", sorted(other.elements()))}
        assert histogram(two, "t", **kw) == histogram(want, "t", **kw)


def _audit(path: Path, engine: str) -> tuple[int, dict]:
    result = CliRunner().invoke(
        main,
        [
            "audit",
            str(path),
            "--json",
            "--label",
            "meta.category",
            "--fail-on",
            "conflicting_answers>0",
            # Smaller than the set: the seeded samples (languages, embeddings) are drawn.
            "--language-sample",
            "150",
            "--max-embed",
            "200",
            "--engine",
            engine,
        ],
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout)


def test_audit_report_same_as_local(ray_cluster, tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    audit_set(path)
    code_local, local = _audit(path, "local")
    code_ray, ray = _audit(path, "ray")
    assert code_local == code_ray == 1  # the conflicting_answers gate fails on both
    # Every kind of finding is present, so each merge path is exercised.
    codes = {f["code"] for f in local["findings"]}
    assert codes >= {
        "unreadable",
        "not_chat",
        "missing_user",
        "conflicting_answers",
        "template_placeholder",
        "repetition",
        "short_answer",
        "refusal",
        "language_mismatch",
        "style_outlier",
    }
    assert local["languages"]["sampled"] and local["diversity"]["embeddings"]["sampled"]
    assert local["diversity"]["near_duplicates"]["duplicates"] > 0
    assert ray == local


def test_conflicts_found_on_the_workers_in_local_order(ray_cluster, tmp_path: Path) -> None:
    # conflicting_answers runs inside the workers' context-hash partitions and only its
    # findings come back: many groups, spread over every partition, and same-prompt
    # rewordings that do not conflict. The report must be local's, finding for finding
    # and in local's order.
    rng = random.Random(5)
    prompts = [f"question number {k}: {' '.join(rng.sample(WORDS, 6))}?" for k in range(40)]
    rows = []
    for _ in range(240):
        base = " ".join(rng.sample(WORDS, 12))
        answer = base if rng.random() < 0.5 else base.upper() + "."  # a rewording
        if rng.random() < 0.4:
            answer = " ".join(rng.sample(WORDS, 12))  # a different answer
        msgs = [
            {"role": "user", "content": rng.choice(prompts)},
            {"role": "assistant", "content": answer},
        ]
        rows.append(json.dumps({"messages": msgs}))
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(rows) + "\n")
    code_local, local = _audit_plain(path, "local")
    code_ray, ray = _audit_plain(path, "ray")
    conflicts = [f for f in local["findings"] if f["code"] == "conflicting_answers"]
    assert len(conflicts) >= 20
    assert (code_ray, ray) == (code_local, local)


WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
    "sigma tau upsilon phi chi psi omega red green blue cyan magenta yellow black white"
).split()


def _audit_plain(path: Path, engine: str) -> tuple[int, dict]:
    result = CliRunner().invoke(
        main, ["audit", str(path), "--json", "--no-embeddings", "--engine", engine]
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout)


def test_workers_key_contexts_as_the_local_detector() -> None:
    """The workers group conversations for the conflict check by ``convs.context_key``, the
    local detector's key (one way to key a context, not a second hash beside it): contexts
    equal after normalisation share a key, and each row's key is local's."""
    import orjson

    from curate.audit.convs import context_key, to_conv
    from curate.engine.ray_audit import _context_keys
    from curate.records import Record

    chats = [
        ("What is 2+2?", "4"),
        ("what is 2 + 2 ?", "Four."),  # the same context after normalisation
        ("Name a prime.", "7"),
        ("Ünïcode, ÉTÉ?", "ok"),
        ("ünïcode été", "yes"),
    ]
    data = [
        orjson.dumps(
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        )
        for q, a in chats
    ]
    n = len(data)
    batch = {
        "idx": np.arange(10, 10 + n, dtype=np.int64),
        "source": np.array(["t.jsonl"] * n, dtype=object),
        "line": np.arange(1, n + 1, dtype=np.int64),
        "text_line": np.arange(1, n + 1, dtype=np.int64),
        "data": np.array(data, dtype=object),
    }
    got = _context_keys(batch, parts=4)
    want = [
        context_key(to_conv(Record("t.jsonl", i + 1, orjson.loads(d)), 10 + i))
        for i, d in enumerate(data)
    ]
    assert got["idx"].tolist() == list(range(10, 10 + n))
    assert got["h"].tolist() == want
    assert got["h"][0] == got["h"][1] and got["h"][3] == got["h"][4]
    assert len({got["h"][0], got["h"][2], got["h"][3]}) == 3
    assert got["part"].tolist() == [k % 4 for k in want]


@pytest.mark.parametrize("shuffled", [False, True])
def test_with_part_finds_the_repeated_rows_as_isin(shuffled: bool) -> None:
    """``_with_part`` looks each block's rows up in the repeated-context rows (sorted once
    by the driver; re-sorted here only if Ray's blocks came out of order): the rows and
    partitions 3202ffb's ``isin`` over the per-task sorted table gave."""
    import pyarrow as pa

    from curate.engine.ray_audit import _with_part

    rng = np.random.default_rng(3)
    rep_ids = np.sort(rng.choice(1000, 150, replace=False)).astype(np.int64)
    rep_part = rng.integers(0, 4, rep_ids.size).astype(np.int64)
    order = rng.permutation(rep_ids.size) if shuffled else np.arange(rep_ids.size)
    cut = rep_ids.size // 3
    blocks = [
        pa.table({"idx": rep_ids[order[a:b]], "part": rep_part[order[a:b]]})
        for a, b in ((0, cut), (cut, cut), (cut, rep_ids.size))
    ]
    idx = rng.permutation(1000)[:400].astype(np.int64)
    batch = {
        "idx": idx,
        "source": np.array(["s.jsonl"] * idx.size, dtype=object),
        "line": idx + 1,
        "text_line": idx + 1,
        "data": np.array([b"{}"] * idx.size, dtype=object),
    }
    got = _with_part(batch, repeated=blocks)
    keep = np.isin(idx, rep_ids)  # the old formula
    assert got["idx"].tolist() == idx[keep].tolist() and keep.sum() > 20
    assert got["part"].tolist() == rep_part[np.searchsorted(rep_ids, idx[keep])].tolist()
    assert got["line"].tolist() == (idx[keep] + 1).tolist()


def _conflict_rows(n: int = 240, seed: int = 5) -> list[str]:
    """Conversations with 40 prompts asked many times: conflicting answers, rewordings
    that do not conflict, and answers repeated as they are."""
    rng = random.Random(seed)
    prompts = [f"question number {k}: {' '.join(rng.sample(WORDS, 6))}?" for k in range(40)]
    rows = []
    for _ in range(n):
        base = " ".join(rng.sample(WORDS, 12))
        answer = base if rng.random() < 0.5 else base.upper() + "."  # a rewording
        if rng.random() < 0.4:
            answer = " ".join(rng.sample(WORDS, 12))  # a different answer
        msgs = [
            {"role": "user", "content": rng.choice(prompts)},
            {"role": "assistant", "content": answer},
        ]
        rows.append(json.dumps({"messages": msgs}))
    return rows


def test_conflicts_written_by_the_workers_reach_the_spill_as_sent(tmp_path: Path) -> None:
    """With a work folder (``curate run``), a conflict partition writes its findings into a
    file and sends back only where each is; the driver copies the file into its spill
    (``SpillWriter.add_file``): the same findings, in the same order, as the partition
    sending them pickled (``curate audit``, and ea0a5d0's ``curate run``)."""
    from curate.audit.model import AuditConfig
    from curate.engine.ray_audit import _conflicts, _conflicts_file
    from curate.engine.spill import SpillWriter

    rows = _conflict_rows()
    n = len(rows)
    group = {
        "idx": np.arange(100, 100 + n, dtype=np.int64)[::-1].copy(),  # any order
        "source": np.array(["t.jsonl"] * n, dtype=object),
        "line": np.arange(n, 0, -1, dtype=np.int64),
        "text_line": np.arange(n, 0, -1, dtype=np.int64),
        "data": np.array([r.encode() for r in rows], dtype=object),
    }
    config = AuditConfig()
    sent = _conflicts(dict(group), config=config)
    written = _conflicts(dict(group), config=config, folder=str(tmp_path))
    assert "finding" not in written and len(sent["finding"]) >= 20
    assert [p.name for p in tmp_path.iterdir()] == [_conflicts_file(100)]
    for k in ("first", "line"):
        assert written[k].tolist() == sent[k].tolist()
    assert written["file"].tolist() == [100] * len(sent["finding"])

    spill = SpillWriter()
    spill.add_pickled([b"x"], "other")  # the copied file lands after what is there
    at = spill.add_file(
        tmp_path / _conflicts_file(100), written["start"], written["size"], "conflicting_answers"
    )
    got = spill.finish(at)
    assert list(got) == [pickle.loads(b) for b in sent["finding"]]
    assert got.count_of("conflicting_answers") == len(sent["finding"])
    # A file that is not exactly its findings back to back is refused before a byte is
    # copied: one finding too long, one left out, two overlapping.
    path, size = tmp_path / _conflicts_file(100), written["size"]
    for starts, sizes in (
        ([0], [size.sum() + 1]),
        (written["start"][1:], size[1:]),
        (np.zeros(size.size, np.int64), size),
    ):
        spill = SpillWriter()
        with pytest.raises(ValueError, match="not the .* findings named"):
            spill.add_file(path, starts, sizes, "x")
        assert spill.pos == spill.fh.tell() == 0
    # Findings named out of file order are fine: ids follow the order given.
    spill = SpillWriter()
    backwards = spill.add_file(path, written["start"][::-1], size[::-1], "conflicting_answers")
    assert list(spill.finish(backwards[::-1])) == list(got)


def test_run_conflicts_written_by_the_workers_as_local(ray_cluster, tmp_path: Path) -> None:
    """``curate run --engine ray`` has its workers write the conflicts' findings into the
    work folder (its log says so): every output file (report.json with its findings in
    local's order, the page, the card) is local's, and the work folder is gone."""
    from tests.engine.helpers import compare_outputs

    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(_conflict_rows(300, seed=6)) + "\n")
    out = {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        result = CliRunner().invoke(
            main,
            ["run", str(path), "-o", str(out[engine]), "--engine", engine, "--no-semantic"],
        )
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code in (0, 1), result.stderr
    assert "conflicts (their findings written by the workers)" in result.stderr  # ray's
    report = json.loads((out["ray"] / "report.json").read_text())
    codes = [f["code"] for f in report["audit"]["findings"]]
    assert codes.count("conflicting_answers") >= 20
    assert compare_outputs(out["local"], out["ray"]) == []
    assert not list(out["ray"].glob(".ray-work*")) and not list(tmp_path.glob("**/conflicts"))
