"""Audit fine-tuning data: shape, languages, diversity and consistency findings, with gates,
an HTML report and a dataset card.

    report = audit(records, AuditConfig(seed=0), embeddings=None)
    report.to_dict()            # the --json output; report.findings, report.metrics
    check_gates(report, ["conflicting_answers>0", "min_records=100"])  # -> [GateFailure]
    render_audit_page(report)   # one self-contained page: curate.report.audit_page
    write_card(report, "README.md")
"""

from __future__ import annotations

from curate.audit.card import write_card
from curate.audit.gates import GateFailure, check_gates, parse_rules
from curate.audit.model import FINDING_CODES, AuditConfig, AuditReport, Finding
from curate.audit.run import AuditStage, audit, audit_path, read_for_audit

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
    "write_card",
]
