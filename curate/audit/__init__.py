"""Audit fine-tuning data: shape, languages, diversity and consistency findings, with gates,
an HTML report and a dataset card.

    report = audit(records, AuditConfig(seed=0), embeddings=None)
    report.to_dict()            # the --json output; report.findings, report.metrics
    check_gates(report, ["conflicting_answers>0", "min_records=100"])  # -> [GateFailure]
    html = render_html(report)  # one self-contained page
    write_card(report, "README.md")
"""

from __future__ import annotations

from typing import Any

from curate.audit.card import write_card
from curate.audit.gates import GateFailure, check_gates, parse_rules
from curate.audit.model import FINDING_CODES, AuditConfig, AuditReport, Finding
from curate.audit.run import AuditStage, audit, audit_path, read_for_audit


def render_html(report: AuditReport, **kwargs: Any) -> str:
    """The audit report as one self-contained HTML page (plots embedded as PNG data URIs)."""
    from curate.report.audit_page import render_audit_page

    return render_audit_page(report, **kwargs)


__all__ = [
    "FINDING_CODES",
    "AuditConfig",
    "AuditReport",
    "AuditStage",
    "Finding",
    "GateFailure",
    "audit",
    "audit_path",
    "check_gates",
    "parse_rules",
    "read_for_audit",
    "render_html",
    "write_card",
]
