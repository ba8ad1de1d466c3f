"""The Ray driver's findings in a file (``curate.engine.spill``): every reader of the audit
report gives the same bytes as with the findings in a list. No cluster needed."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import orjson
import pytest

from curate.audit import AuditConfig, audit_path
from curate.audit.card import card_text
from curate.engine.spill import SpilledFindings, SpillWriter
from curate.findings import Finding
from curate.pipeline.output import dump_json
from curate.report.audit_page import render_audit_page
from tests.engine.helpers import audit_set


def _spilled(findings: list[Finding]) -> SpilledFindings:
    # Written out of order, as the Ray conflicts arrive; the index puts them back.
    w = SpillWriter()
    half = len(findings) // 2
    late = w.add(findings[half:])
    early = w.add(findings[:half])
    return w.finish(np.concatenate((early, late)))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("spill") / "set.jsonl"
    audit_set(path)
    with open(path, "a") as fh:  # 12 more conflicts: more than the page and the card list
        for k in range(12):
            for answer in (f"Paris is the answer {k}.", f"It is surely Lyon, case {k}, sorry."):
                msgs = [
                    {"role": "user", "content": f"Which city is meant in riddle {k}?"},
                    {"role": "assistant", "content": answer},
                ]
                fh.write(orjson.dumps({"messages": msgs}).decode() + "\n")
    rep = audit_path(str(path), AuditConfig(seed=0, embeddings=False))
    codes = {f.code for f in rep.findings}
    # Every kind of finding, and more of some code than the page and the card list.
    assert {"conflicting_answers", "not_chat", "style_outlier"} <= codes
    assert max(sum(f.code == c for f in rep.findings) for c in codes) > 5
    return rep


def test_spilled_findings_read_back_as_the_list(report) -> None:
    spilled = _spilled(report.findings)
    assert len(spilled) == len(report.findings)
    assert list(spilled) == report.findings and spilled == report.findings
    assert spilled[3] == report.findings[3] and spilled[-1] == report.findings[-1]
    assert spilled[2:9] == report.findings[2:9]
    with pytest.raises(IndexError):
        spilled[len(spilled)]
    # Sent to another process as the plain list it stands for.
    assert pickle.loads(pickle.dumps(spilled)) == report.findings
    # The per-code questions read only that code's findings (pickled blobs of one code).
    for code in {f.code for f in report.findings} | {"refusal_nowhere"}:
        mine = [f for f in report.findings if f.code == code]
        assert list(spilled.of_code(code)) == mine
        assert spilled.count_of(code) == len(mine)
        assert spilled.flagged(code) == len({ln for f in mine for ln in f.lines})
    w = SpillWriter()
    conflicts = [f for f in report.findings if f.code == "conflicting_answers"]
    ids = w.add_pickled([pickle.dumps(f) for f in conflicts], "conflicting_answers")
    assert w.finish(ids[::-1]) == conflicts[::-1]
    assert len(_spilled([])) == 0 and list(_spilled([])) == []


@pytest.mark.parametrize("n", [0, 1, None])
def test_report_json_streamed_is_byte_identical(report, tmp_path: Path, n: int | None) -> None:
    findings = report.findings if n is None else report.findings[:n]
    if n == 1:  # non-ASCII, nested details: the indentation must still match
        findings = [dataclasses.replace(findings[0], message='é ✓ "q"', detail={"a": [1, {}]})]
    whole = dataclasses.replace(report, findings=list(findings))
    lazy = dataclasses.replace(report, findings=_spilled(list(findings)))
    assert not isinstance(lazy.to_dict(lazy=True)["findings"], list)
    out = {}
    for name, rep in (("list", whole), ("lazy", lazy)):
        doc = {"curate_version": "x", "audit": rep.to_dict(lazy=True), "split": {"train": 1}}
        dump_json(tmp_path / f"{name}.json", doc)
        out[name] = (tmp_path / f"{name}.json").read_bytes()
    expected = orjson.dumps(
        {"curate_version": "x", "audit": whole.to_dict(), "split": {"train": 1}},
        option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE,
    )
    assert out["list"] == expected
    assert out["lazy"] == expected


def test_report_json_streamed_with_a_value_like_a_placeholder(report, tmp_path: Path) -> None:
    # An input value (a label, a config string) written before the findings must not be
    # taken for their place: the old fixed placeholder was spliced into the first match.
    odd = "\x00curate-lazy-findings\x00"
    whole = dataclasses.replace(report, findings=list(report.findings[:3]))
    lazy = dataclasses.replace(report, findings=_spilled(list(report.findings[:3])))
    doc = {"curate_version": odd, "audit": lazy.to_dict(lazy=True)}
    dump_json(tmp_path / "r.json", doc)
    expected = orjson.dumps(
        {"curate_version": odd, "audit": whole.to_dict()},
        option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE,
    )
    assert (tmp_path / "r.json").read_bytes() == expected


def test_page_and_card_same_from_a_spilled_report(report) -> None:
    lazy = dataclasses.replace(report, findings=_spilled(report.findings))
    assert card_text(lazy) == card_text(report)
    gone = {report.findings[0].lines[0]}
    published = {"outputs": {"train": 1}, "input_records": 2, "dropped_lines": sorted(gone)}
    published["rejected_by_stage"] = {"filter": {"too_few_tokens": 1}}
    assert card_text(lazy, published=published) == card_text(report, published=published)
    assert render_audit_page(lazy) == render_audit_page(report)
    assert lazy.to_dict() == report.to_dict()
