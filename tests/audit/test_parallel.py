"""The audit with its duplicate-share fingerprints hashed in worker processes (as ``curate
audit`` does on large inputs) gives the report of the serial audit, key for key.

The thresholds that keep small inputs in one process are lowered here, so a few hundred
records really go through the worker pool while the audit runs on.
"""

from __future__ import annotations

import pytest

from curate.audit import AuditConfig, audit, audit_path
from curate.audit import run as audit_run
from curate.audit.run import read_for_audit
from curate.dedup import features as feat
from curate.records import Record
from tests.audit.audit_data import write_jsonl
from tests.dedup.identity_data import identity_records


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feat, "PARALLEL_MIN", 10)
    monkeypatch.setattr(feat, "PARALLEL_CHUNK", 37)


def _records() -> list[Record]:
    records = identity_records(300)
    # Rows that are no conversation: the fingerprints must cover the chat rows only.
    records[7] = Record("identity.jsonl", 8, {"text": "no messages here"}, 7)
    records[150] = Record("identity.jsonl", 151, {"messages": "not a list"}, 150)
    return records


def _view(report) -> tuple:
    d = report.to_dict()
    d.pop("timings", None)
    return d, [f.rows for f in report.findings]


def test_parallel_fingerprints_give_the_serial_report(
    small_chunks: None, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    records = _records()
    path = write_jsonl(tmp_path / "in.jsonl", [r.data for r in records])
    # (langdetect is slow on these word lists; the languages are not what is tested here)
    config = AuditConfig(embeddings=False, language_sample=5)
    calls: list[int] = []
    gathered: list[int] = []
    real, real_ahead = audit_run.compute_features, audit_run._ahead_features

    def counted(recs, *args):  # the real hashing, counted: the parallel path must be taken
        calls.append(len(recs))
        return real(recs, *args)

    def ahead_counted(ahead, recs, rows):
        gathered.append(len(recs))
        return real_ahead(ahead, recs, rows)

    monkeypatch.setattr(audit_run, "compute_features", counted)
    monkeypatch.setattr(audit_run, "_ahead_features", ahead_counted)
    serial = audit_path(path, config, processes=1)
    assert calls == gathered == []  # one process: the duplicate share hashes as before
    parallel = audit_path(path, config, processes=2)  # (``curate audit``: every CPU)
    # Hashed (and the views built) in the pool while the file was read, not after.
    assert calls == [] and gathered == [len(records)]
    assert _view(parallel) == _view(serial)
    assert serial.diversity["near_duplicates"]["duplicates"] > 0  # the share had work to do
    # ``audit`` of records in memory (no reading to overlap): hashed in the pool meanwhile.
    with feat.workers(2):
        given = audit(records, config, bad_lines=serial_bad(path), source=str(path))
    assert calls == [len(records) - 2]  # the chat rows, in the pool
    given.shape["input_format"] = parallel.shape["input_format"]
    assert _view(given) == _view(parallel)


def serial_bad(path) -> list:
    return read_for_audit(path)[1]
