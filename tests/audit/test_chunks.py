"""The audit builds its conversation views a chunk at a time and keeps only per-row facts
(shape counts, style features, prompt keys, flagged rows); its findings and sections must be
those of the detectors run over every view at once, whatever the chunk size."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from curate.audit import AuditConfig, audit
from curate.audit import run as audit_run
from curate.audit.consistency import record_findings
from curate.audit.convs import to_conv
from curate.audit.diversity import duplicate_config
from curate.audit.shape import compute_shape
from curate.audit.style import style_outliers
from curate.chat import messages_of
from curate.dedup import features as feat
from curate.dedup.features import compute_features
from curate.records import Record
from curate.tokens import TokenCounter
from tests.dedup.identity_data import identity_rows

ODDITIES = [
    lambda a: a + " the the the the the the the",
    lambda a: " ".join([a.split(".")[0] + "."] * 4) + " " + a,
    lambda a: "I'm sorry, but I can't help with that request. " + a,
    lambda a: "As an AI language model, I cannot do that.",
    lambda a: a + " Regards, [Your Name] {{ user.name }} <COMPANY_NAME>",
    lambda a: "- one\n- two\n- three\n\n1. first\n2) second\n" + a,
    lambda a: "| a | b |\n|---|---|\n| 1 | 2 |\n\n**Bold** " + a,
    lambda a: "```python\nx x x x x x x\n```\n" + a,
    lambda a: "这是一个中文回答。这是一个中文回答。这是一个中文回答。" + a,
    lambda a: "",
    lambda a: "Ok.",
    lambda a: a * 30,
]


def _records() -> list[Record]:
    rng = random.Random(3)
    rows = identity_rows(400, seed=11)
    for row in rows:
        msg = row["messages"][-1]
        if rng.random() < 0.4:
            msg["content"] = rng.choice(ODDITIES)(msg["content"])
    # Same prompt, another answer (conflicting answers), a row without a user turn, rows
    # that are no conversation at all, and a system prompt shared by many rows.
    rows[50] = {"messages": [dict(m) for m in rows[10]["messages"]]}
    rows[50]["messages"][-1]["content"] = "Something else entirely, about painting boats."
    rows[60] = {"messages": [{"role": "assistant", "content": "An answer to nobody."}]}
    rows[70] = {"text": "no messages here"}
    rows[71] = {"messages": "not a list"}
    return [Record("mix.jsonl", i, row, i - 1) for i, row in enumerate(rows, 1)]


def _view(report) -> tuple:
    d = report.to_dict()
    d.pop("timings", None)
    return d, [f.rows for f in report.findings], report.series


CONFIG = AuditConfig(embeddings=False, language_sample=40, label="category")


@pytest.fixture(scope="module")
def whole() -> tuple:
    """The report with every view in one chunk."""
    return _view(audit(_records(), CONFIG))


@pytest.mark.parametrize("chunk", [1, 7])
def test_chunked_views_give_the_report_of_one_chunk(
    chunk: int, whole: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_run, "VIEW_CHUNK", chunk)
    assert _view(audit(_records(), CONFIG)) == whole


def _spy(monkeypatch: pytest.MonkeyPatch, name: str, note: Callable[[Any], Any]) -> list:
    """``audit_run.<name>`` still runs; ``note`` of each call's result is kept in the list
    returned (which path the audit took: the reading path, the findings worker)."""
    real, seen = getattr(audit_run, name), []

    def spied(*args: Any) -> Any:
        got = real(*args)
        seen.append(note(got))
        return got

    monkeypatch.setattr(audit_run, name, spied)
    return seen


def test_views_in_worker_processes_give_the_same_report(
    whole: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the thresholds that keep small inputs in one process, lowered)
    monkeypatch.setattr(feat, "PARALLEL_MIN", 10)
    monkeypatch.setattr(feat, "PARALLEL_CHUNK", 37)
    calls: list[int] = []
    real = audit_run.map_chunks

    def counted(fn, records, args, stop):  # the real pool, counted: the worker path is taken
        calls.append(len(records))
        return real(fn, records, args, stop)

    monkeypatch.setattr(audit_run, "map_chunks", counted)
    found = _spy(monkeypatch, "_with_findings", lambda got: got[1] is not None)
    records = _records()
    features = compute_features(records, duplicate_config(), True)  # (as `curate run` gives)
    with feat.workers(2):
        report = audit(records, CONFIG, features=features)
    assert calls == [len(records) - 2] and found == [False]  # (findings: this process)
    assert _view(report) == whole


def test_findings_and_shape_are_those_of_every_view_at_once() -> None:
    # The audit keeps facts per row and rebuilds only the views it needs later; the plain
    # detectors over all the views are the reference.
    records = _records()
    config = AuditConfig(embeddings=False, language_sample=5)
    report = audit(records, config)
    convs = [c for i, r in enumerate(records) if (c := to_conv(r, i)) is not None]
    expected = record_findings(convs, convs, config) + style_outliers(convs, config)[0]
    got = [
        f for f in report.findings if f.code not in ("not_chat", "unreadable", "language_mismatch")
    ]
    key = [(f.code, f.message, f.lines, f.rows, f.example, f.detail) for f in expected]
    key.sort(key=lambda k: (k[0], k[2]))
    got_key = sorted(
        ((f.code, f.message, f.lines, f.rows, f.example, f.detail) for f in got),
        key=lambda k: (k[0], k[2]),
    )
    assert got_key == key
    codes = {f.code for f in report.findings}
    # The mix triggers every per-record detector (else the comparison proves little).
    assert {
        "conflicting_answers",
        "template_placeholder",
        "repetition",
        "short_answer",
        "refusal",
        "missing_user",
        "style_outlier",
        "not_chat",
    } <= codes
    shape, series = compute_shape(convs, TokenCounter(None))
    assert report.shape == shape
    assert report.series["tokens"] == series["tokens"]
    assert report.diversity["style"] == style_outliers(convs, config)[1]


def test_views_built_while_reading_give_the_same_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # ``curate audit``: chunks go to the workers as they are read, chat or not (rows 70, 71
    # are no conversation), and each chunk's facts are moved to its chat rows' positions.
    monkeypatch.setattr(feat, "PARALLEL_MIN", 10)
    monkeypatch.setattr(feat, "PARALLEL_CHUNK", 37)
    gathered = _spy(monkeypatch, "_ahead_facts", lambda got: got is not None)
    found = _spy(monkeypatch, "_with_findings", lambda got: got[1] is not None)
    path = tmp_path / "mix.jsonl"
    path.write_text("".join(orjson.dumps(r.data).decode() + "\n" for r in _records()))
    serial = audit_run.audit_path(path, CONFIG, processes=1)
    assert gathered == []
    parallel = audit_run.audit_path(path, CONFIG, processes=2)
    assert gathered == found == [True]
    assert _view(parallel) == _view(serial)
    m = serial.metrics
    assert m["not_chat"] == 2 and m["refusal"] > 0 and m["conflicting_answers"] > 0


def _write_mix(tmp_path) -> Any:
    path = tmp_path / "mix.jsonl"
    path.write_text("".join(orjson.dumps(r.data).decode() + "\n" for r in _records()))
    return path


def _large_at(monkeypatch: pytest.MonkeyPatch, path: Any) -> None:
    """``path`` (400 lines) counts as a large input: the thresholds lowered to it."""
    monkeypatch.setattr(audit_run, "EARLY_POOL_BYTES", path.stat().st_size)
    monkeypatch.setattr(audit_run, "EARLY_POOL_RECORDS", 400)


def test_a_large_file_starts_its_pool_early_in_a_thread(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # ``curate audit`` of a file expected to reach PARALLEL_MIN records: the fork server boots
    # while the first records are read and the pool starts at the first chunk, in a thread
    # (this one reads on), instead of after PARALLEL_MIN records (never reached here); same
    # report.
    import threading

    monkeypatch.setattr(feat, "PARALLEL_MIN", 10**9)
    monkeypatch.setattr(feat, "PARALLEL_CHUNK", 37)
    path = _write_mix(tmp_path)
    serial = audit_run.audit_path(path, CONFIG, processes=1)
    gathered = _spy(monkeypatch, "_ahead_facts", lambda got: got is not None)
    booted = _spy(monkeypatch, "start_fork_server", lambda got: got)
    assert _view(audit_run.audit_path(path, CONFIG, processes=2)) == _view(serial)
    assert gathered == [] and booted == []  # too small for the pool, as before
    _large_at(monkeypatch, path)
    real_warm, warmed_in = feat.StreamHasher._warm, []

    def warm(self: Any, pool: Any) -> None:
        warmed_in.append(threading.current_thread() is threading.main_thread())
        real_warm(self, pool)

    monkeypatch.setattr(feat.StreamHasher, "_warm", warm)
    assert _view(audit_run.audit_path(path, CONFIG, processes=2)) == _view(serial)
    assert gathered == [True] and warmed_in == [False]  # the reading pool, started in a thread
    assert booted == [None]  # the server booted before reading, once


def test_the_fork_server_is_not_booted_for_input_that_will_not_use_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # 1c5f6b0 booted it for any file of 16 MiB: one of long records (< 2,000) never fills
    # a chunk; stdin has no size to go by.
    import gzip
    import io
    import sys

    path = _write_mix(tmp_path)
    _large_at(monkeypatch, path)
    assert audit_run._large_input(path)
    assert not audit_run._large_input(tmp_path / "missing.jsonl")
    assert not audit_run._large_input(tmp_path)  # (a directory: a dataset)
    monkeypatch.setattr(audit_run, "EARLY_POOL_RECORDS", 401)  # fewer lines than that
    assert not audit_run._large_input(path)
    packed = tmp_path / "mix.jsonl.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()) + bytes(path.stat().st_size))
    assert audit_run._large_input(packed)  # (compressed: its size goes by itself)

    booted = _spy(monkeypatch, "start_fork_server", lambda got: got)
    monkeypatch.setattr(feat, "PARALLEL_CHUNK", 37)
    serial = audit_run.audit_path(path, CONFIG, processes=1)
    assert _view(audit_run.audit_path(path, CONFIG, processes=2)) == _view(serial)
    monkeypatch.setattr(audit_run, "EARLY_POOL_BYTES", 1)
    monkeypatch.setattr(audit_run, "EARLY_POOL_RECORDS", 1)
    stdin = io.TextIOWrapper(io.BytesIO(path.read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert audit_run.audit_path("-", CONFIG, processes=2).metrics == serial.metrics
    assert booted == []


def _early_audit_pausing(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    pause: Callable[[], None],
    read_all: Callable[[], None] = lambda: None,
) -> tuple[Path, Any, list[feat.StreamHasher]]:
    """The mixed file audited as a large one (its pool started early), with a reader that
    calls ``pause`` after 3 chunks of 37 records and ``read_all`` once it has read them all:
    (its path, the one-process audit of it, the hashers the audit makes)."""
    monkeypatch.setattr(feat, "PARALLEL_MIN", 10**9)
    monkeypatch.setattr(feat, "PARALLEL_CHUNK", 37)
    path = _write_mix(tmp_path)
    serial = audit_run.audit_path(path, CONFIG, processes=1)
    _large_at(monkeypatch, path)
    hashers: list[feat.StreamHasher] = []

    class Seen(feat.StreamHasher):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            hashers.append(self)

    real_read = audit_run.read_chat

    class Paused:
        def __init__(self, chat: Any) -> None:
            self.chat, self.converter = chat, chat.converter

        def __iter__(self) -> Any:
            for i, item in enumerate(self.chat):
                if i == 3 * 37:
                    pause()
                yield item
            read_all()

    monkeypatch.setattr(audit_run, "StreamHasher", Seen)
    monkeypatch.setattr(audit_run, "read_chat", lambda *a, **k: Paused(real_read(*a, **k)))
    return path, serial, hashers


def test_chunks_read_before_an_early_pool_is_up_are_sent_as_reading_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # The pool comes up while the file is still being read: ``wrap`` sends the chunks read
    # meanwhile and the next ones as they fill, before the reading ends (not all at the end,
    # in ``features``). The reader waits after 3 chunks for the pool to be up.
    import time

    sent_when_read: list[int] = []

    def until_the_pool_is_up() -> None:
        deadline = time.monotonic() + 120
        while hashers[0].pool is None:
            assert time.monotonic() < deadline, "the early pool never came up"
            time.sleep(0.01)

    path, serial, hashers = _early_audit_pausing(
        monkeypatch, tmp_path, until_the_pool_is_up, lambda: sent_when_read.append(hashers[0].sent)
    )
    gathered = _spy(monkeypatch, "_ahead_facts", lambda got: got is not None)
    assert _view(audit_run.audit_path(path, CONFIG, processes=2)) == _view(serial)
    assert gathered == [True] and len(hashers) == 1
    assert sent_when_read[-1] == 400 // 37 * 37  # every full chunk, sent while reading


def test_an_early_pool_that_fails_to_start_leaves_the_audit_to_this_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from concurrent.futures.process import BrokenProcessPool

    def broken(self: Any, pool: Any) -> None:
        raise BrokenProcessPool("a worker died while starting")

    monkeypatch.setattr(feat, "PARALLEL_CHUNK", 37)
    monkeypatch.setattr(feat.StreamHasher, "_warm", broken)
    path = _write_mix(tmp_path)
    _large_at(monkeypatch, path)
    gathered = _spy(monkeypatch, "_ahead_facts", lambda got: got is not None)
    early = audit_run.audit_path(path, CONFIG, processes=2)
    assert gathered == []  # no reading pool: the views and fingerprints made here
    assert _view(early) == _view(audit_run.audit_path(path, CONFIG, processes=1))


def test_an_early_pool_whose_worker_is_killed_leaves_the_audit_to_this_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # A real death, not a mocked one: a thread SIGKILLs the first worker of the early pool as
    # soon as it exists, while the reader waits (after 3 chunks) for the kill. Whether the
    # pool was still starting or already up, the audit's result is the one-process audit's.
    import os
    import signal
    import threading
    import time

    killed: list[int] = []

    def kill_first_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            pool = hashers[0].starting if hashers else None
            pids = list(getattr(pool, "_processes", None) or ())
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.001)

    def until_killed() -> None:
        killer.join(130)
        assert killed, "no worker to kill"

    path, serial, hashers = _early_audit_pausing(monkeypatch, tmp_path, until_killed)
    gathered = _spy(monkeypatch, "_ahead_facts", lambda got: got is not None)
    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    assert _view(audit_run.audit_path(path, CONFIG, processes=2)) == _view(serial)
    assert len(killed) == 1 and hashers[0].failed
    assert gathered in ([], [False])  # the reading pool's facts are not used


def test_findings_thread_starting_late_still_gets_the_fingerprints(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # The thread that gathers the facts may start after the audit's own thread has replaced
    # its ``features`` future by the result: the future must have been bound when submitted.
    import time

    monkeypatch.setattr(feat, "PARALLEL_MIN", 10)
    monkeypatch.setattr(feat, "PARALLEL_CHUNK", 37)
    real_found = audit_run._with_findings

    found: list[bool] = []

    def late(*args):
        time.sleep(3.0)
        got = real_found(*args)
        found.append(got[0] is not None and got[1] is not None)
        return got

    monkeypatch.setattr(audit_run, "_with_findings", late)
    path = tmp_path / "mix.jsonl"
    path.write_text("".join(orjson.dumps(r.data).decode() + "\n" for r in _records()))
    serial = audit_run.audit_path(path, CONFIG, processes=1)
    assert _view(audit_run.audit_path(path, CONFIG, processes=2)) == _view(serial)
    assert found == [True]  # the gathering thread's facts and the worker's findings


def test_a_failed_reading_pool_leaves_the_audit_to_this_process(whole: tuple) -> None:
    # No pool started (or one whose worker died): ``features`` is None, and the audit builds
    # the views and hashes the fingerprints itself.
    ahead = feat.StreamHasher(duplicate_config(), True, (audit_run.stream_facts, (CONFIG,)))
    records = list(ahead.wrap(iter(_records())))
    assert ahead.pool is None
    assert _view(audit(records, CONFIG, ahead=ahead)) == whole


@pytest.mark.parametrize(
    "data",
    [
        {"messages": [{"role": "user", "content": "hi"}]},
        {"messages": []},
        {"messages": ["text", {"role": "user", "content": "hi"}]},
        {"messages": ["text"]},
        {"messages": "not a list"},
        {"text": "no messages"},
        ["a", "list"],
        None,
    ],
)
def test_is_chat_is_what_messages_of_says(data) -> None:
    assert audit_run.is_chat(data) is bool(messages_of(data))
