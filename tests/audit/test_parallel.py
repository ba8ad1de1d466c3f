"""The audit with its duplicate-share fingerprints hashed in worker processes (as ``curate
audit`` does on large inputs) gives the report of the serial audit, key for key.

The thresholds that keep small inputs in one process are lowered here, so a few hundred
records really go through the worker pool while the audit runs on.
"""

from __future__ import annotations

import pytest

from curate.audit import AuditConfig, audit_path
from curate.audit import run as audit_run
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
    real = audit_run.compute_features

    def counted(recs, *args):  # the real hashing, counted: the parallel path must be taken
        calls.append(len(recs))
        return real(recs, *args)

    monkeypatch.setattr(audit_run, "compute_features", counted)
    serial = audit_path(path, config, processes=1)
    assert calls == []  # one process: the duplicate share hashes as before
    parallel = audit_path(path, config, processes=2)  # (``curate audit``: every CPU)
    assert calls == [len(records) - 2]  # the chat rows, in the pool
    assert _view(parallel) == _view(serial)
    assert serial.diversity["near_duplicates"]["duplicates"] > 0  # the share had work to do
