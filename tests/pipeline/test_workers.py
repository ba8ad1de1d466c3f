"""`run.workers`: dedup's per-record hashing in processes gives the same bytes.

The thresholds that keep small inputs in one process are lowered here, so a few hundred
records really go through the worker pool (a few chunks each).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from curate.dedup import DedupConfig
from curate.dedup import features as feat
from curate.pipeline import load_run_config, run_pipeline
from curate.pipeline.aside import Aside
from curate.pipeline.manifest import output_hashes
from curate.report.dupes import diff_html
from tests.dedup.identity_data import identity_records, identity_rows


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feat, "PARALLEL_MIN", 10)
    monkeypatch.setattr(feat, "PARALLEL_CHUNK", 37)  # several uneven chunks per worker


def test_forked_fingerprints_equal_the_serial_ones(small_chunks: None) -> None:
    records = identity_records()
    for cfg in (DedupConfig(methods=("exact", "near")), DedupConfig(methods=("exact",))):
        serial = feat.compute_features(records, cfg, "near" in cfg.methods)
        forked_before = feat._WORKERS
        with feat.workers(2):
            assert feat._WORKERS == 2
            forked = feat.compute_features(records, cfg, "near" in cfg.methods)
        assert feat._WORKERS == forked_before  # restored after the block
        for name in ("digests", "lengths", "sig", "usable", "blank"):
            a, b = getattr(serial, name), getattr(forked, name)
            assert (a is None) == (b is None), name
            if a is not None:
                assert np.array_equal(a, b), name
        assert serial.blank is not None and not serial.blank.any()


def test_a_worker_error_is_the_serial_one(small_chunks: None) -> None:
    # A record with no chat side under the prompt key: the serial pass names it; so must
    # the forked one (the error comes back from the worker, the first one in input order).
    from curate.errors import InputError
    from curate.records import Record

    records = identity_records(120)
    records[50] = Record("identity.jsonl", 51, {"text": "no messages"}, 50)
    records[90] = Record("identity.jsonl", 91, {"text": "none here either"}, 90)
    cfg = DedupConfig(methods=("exact", "near"), key="prompt")
    with pytest.raises(InputError) as serial:
        feat.compute_features(records, cfg, True)
    with feat.workers(2), pytest.raises(InputError) as forked:
        feat.compute_features(records, cfg, True)
    assert str(forked.value) == str(serial.value)
    assert "identity.jsonl:51" in str(serial.value)


def test_run_outputs_are_the_same_for_any_worker_count(
    tmp_path: Path, small_chunks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Duplicates of every kind, a blank-prompt row and an --against file that leaks, so the
    # dedup, the leakage check against the file and the split's leakage check all read the
    # forked fingerprints; with workers the page's duplicates and charts are made in the
    # aside worker (curate.pipeline.aside), and report.html is compared too.
    jobs: list[tuple[str, bool]] = []
    submit = Aside.submit

    def spy(self: Aside, name: str, fn: Any, *args: Any) -> None:
        jobs.append((name, self.pool is not None))
        submit(self, name, fn, *args)

    monkeypatch.setattr(Aside, "submit", spy)
    rows = identity_rows(360)
    rows.append(
        {"messages": [{"role": "user", "content": "   "}, {"role": "assistant", "content": "x"}]}
    )
    data = tmp_path / "data.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    against = tmp_path / "bench.jsonl"
    against.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows[:40:3]))
    cfg_against = f"  against: [{against}]\n"
    one = _run_with_against(tmp_path, data, 1, cfg_against)
    assert jobs == [("dupes", False), ("charts", False)]
    two = _run_with_against(tmp_path, data, 2, cfg_against)
    assert jobs[2:] == [("dupes", True), ("charts", True)]
    assert one.keys() == two.keys() and "train.jsonl" in one
    assert two["report.html"].count(b"data:image/png") >= 3  # dedup's and the audit's charts
    for name in one:
        assert one[name] == two[name], name
    manifest = json.loads(one["manifest.json"])
    assert manifest["against"]["leaks"] > 0  # the against check really ran


def _run_with_against(tmp_path: Path, data: Path, workers: int, against: str) -> dict[str, bytes]:
    cfg_file = tmp_path / f"curate-{workers}.yaml"
    cfg_file.write_text(
        f"run:\n  semantic: false\n  workers: {workers}\n  parquet: true\n  shards: 2\n"
        "dedup:\n  methods: [exact, near]\n  against_key: conversation\n"
        f"{against}"
        # The set's random words make language detection slow (~0.4 s a text): a small sample.
        "audit:\n  language_sample: 10\n"
        "split:\n  test_size: 0.2\n"
    )
    out = tmp_path / f"out-{workers}"
    run_pipeline(str(data), out, load_run_config(str(cfg_file)))
    # The manifest's hashes (partly taken while the page was written) are the files' own.
    assert json.loads((out / "manifest.json").read_bytes())["sha256"] == output_hashes(out)
    files = {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }
    for name in ("report.json", "manifest.json"):  # timings and the config echo differ
        doc = json.loads(files[name])
        doc.get("audit", {}).pop("timings", None)
        doc.pop("sha256", None)
        doc.get("config", {}).get("run", {}).pop("workers", None)
        files[name] = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return files


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("same words here", "same words here"),
        ("one two three four", "one two THREE four"),
        ("head and <tail>", "head & <tail> more"),
        ("", "added"),
        ("a b a b a", "a b a"),
    ],
)
def test_diff_marks_only_what_differs_and_keeps_every_character(a: str, b: str) -> None:
    import html
    import re

    left, right = diff_html(a, b)

    def plain(m: str) -> str:
        return html.unescape(re.sub(r"</?(del|ins)[^>]*>", "", m))

    assert plain(left) == a and plain(right) == b
    marked_l = "".join(re.findall(r"<del[^>]*>(.*?)</del>", left))
    marked_r = "".join(re.findall(r"<ins[^>]*>(.*?)</ins>", right))
    if a == b:
        assert not marked_l and not marked_r
    else:
        assert marked_l or marked_r
    if (a, b) == ("one two three four", "one two THREE four"):
        assert (marked_l, marked_r) == ("three", "THREE")


def test_hashing_while_reading_gives_the_serial_rows(small_chunks: None) -> None:
    # StreamHasher (curate run): chunks go to the workers as the records pass by.
    records = identity_records()
    cfg = DedupConfig(methods=("exact", "near"))
    serial = feat.compute_features(records, cfg, True)
    with feat.workers(2):
        hasher = feat.StreamHasher(cfg, True)
        passed = list(hasher.wrap(iter(records)))
        streamed = hasher.features(passed)
    assert passed == records and hasher.pool is None  # closed once gathered
    assert streamed is not None and streamed.fits(cfg, len(records), True)
    for name in ("digests", "lengths", "sig", "usable", "blank"):
        assert np.array_equal(getattr(serial, name), getattr(streamed, name)), name


def test_a_killed_hashing_worker_leaves_the_rows_to_dedup(small_chunks: None) -> None:
    # With multiprocessing.Pool a killed worker's chunk was lost and ``features`` waited for
    # it for ever; now the stream gives no rows and dedup hashes in this process.
    import os
    import signal
    import time

    records = identity_records()
    cfg = DedupConfig(methods=("exact", "near"))
    with feat.workers(2):
        hasher = feat.StreamHasher(cfg, True)
        passed = []
        for record in hasher.wrap(iter(records)):
            passed.append(record)
            if len(passed) == 200:
                assert hasher.pool is not None
                # A ProcessPoolExecutor starts its workers on demand: wait for one.
                hasher.pool.submit(int).result()
                os.kill(next(iter(hasher.pool._processes)), signal.SIGKILL)
                # The executor notices a death between results: while chunks sent before the
                # kill keep finishing it may not have yet, and if every chunk were sent and
                # hashed by then the rows would be whole and rightly returned. Wait until it
                # has, so the chunks still to come meet the broken pool.
                deadline = time.monotonic() + 60
                while not hasher.pool._broken and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert hasher.pool._broken
        assert len(passed) == len(records)
        assert hasher.features(passed) is None and hasher.pool is None


def test_hashing_while_reading_leaves_errors_to_dedup(small_chunks: None) -> None:
    # A record a worker cannot key: no rows from the stream (dedup hashes again in this
    # process and raises the serial error where a run without workers would).
    from curate.records import Record

    records = identity_records(120)
    records[50] = Record("identity.jsonl", 51, {"text": "no messages"}, 50)
    cfg = DedupConfig(methods=("exact", "near"), key="prompt")
    with feat.workers(2):
        hasher = feat.StreamHasher(cfg, True)
        passed = list(hasher.wrap(iter(records)))
        assert hasher.features(passed) is None
    # Short inputs (below PARALLEL_MIN) and one worker never start a pool.
    with feat.workers(1):
        hasher = feat.StreamHasher(cfg, True)
        assert hasher.features(list(hasher.wrap(iter(records)))) is None


def test_the_run_hashes_each_record_once_while_reading(
    tmp_path: Path, small_chunks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With workers, neither dedup nor the split's leakage check hashes again: the rows
    # computed while reading are the ones they use (and the outputs equal one process's).
    rows = identity_rows(200)
    data = tmp_path / "data.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    one = _run_with_against(tmp_path, data, 1, "")
    calls: list[int] = []
    real = feat.compute_features

    def counted(records, *args, **kwargs):  # type: ignore[no-untyped-def]
        # Only the split's one pass over the prompts (a text hashed nowhere else: rows
        # asking the same prompt are kept together) is allowed.
        if not (args[0].key == "prompt" and args[0].methods == ("exact",) and not args[1]):
            calls.append(len(records))
        return real(records, *args, **kwargs)

    import curate.dedup.engine as engine

    monkeypatch.setattr(feat, "compute_features", counted)
    monkeypatch.setattr(engine, "compute_features", counted)
    two = _run_with_against(tmp_path, data, 2, "")
    assert calls == []
    assert one == two


def test_a_chunk_with_dates_reaches_a_worker_as_dates() -> None:
    """orjson writes a date as ISO text ("2024-01-02T03:04:05"), where this process reads
    ``str(date)`` ("2024-01-02 03:04:05"): a chunk holding dates (Parquet) goes pickled, so
    a worker's fingerprints and facts are the run process's."""
    import datetime

    from curate.records import Record

    when = datetime.datetime(2024, 1, 2, 3, 4, 5)
    chunk = [Record("x.parquet", 1, {"messages": [], "at": when})]
    sent = feat._encode(chunk)
    assert not isinstance(sent, bytes)
    assert sent[0].data["at"] == when
    plain = [Record("x.jsonl", 1, {"messages": [{"role": "user", "content": "hi"}]})]
    assert feat._decode(feat._encode(plain)) == plain
