"""One finding type for every check: a stable code, a message, and where.

``curate validate`` reports problems inside one record (``path``, a JSON pointer); the audit
groups the records that share one problem (``lines`` for people, ``rows`` for code). Both
are a ``Finding``; each keeps its own JSON form (``as_dict`` for validate's rejects and
``--json``, ``to_dict`` for the audit report), so no output changed when they became one.

Severity comes from the table of the check that owns the code (``curate.validate.codes``,
``curate.audit.model``), which registers it in ``SEVERITY`` at import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# code -> "error" | "warning", filled in by the modules that define codes.
SEVERITY: dict[str, str] = {}


@dataclass(slots=True)
class Finding:
    """One problem, in one record or shared by several.

    Attributes:
        code: stable snake_case code (``schema_violation``, ``refusal``...).
        message: one line for people.
        severity: ``error`` or ``warning``; default: the code's in ``SEVERITY``
            (``warning`` for a code no table names).
        path: JSON pointer into the record (``/messages/2/content``; ``""`` = whole record).
        lines: 1-based ``Record.line`` numbers of the records involved (audit).
        rows: the same records by position in the audited batch (``curate.stage.Batch``):
            unlike line numbers they stay unique across sources (an HF dataset folder with
            splits), so ``filter.drop_findings`` drops by them. Not in the JSON report.
        example: a short excerpt for people (audit).
        detail: machine-readable details (audit).
    """

    code: str
    message: str
    severity: str = ""
    path: str = ""
    lines: list[int] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    example: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.severity:
            self.severity = SEVERITY.get(self.code, "warning")

    def as_dict(self) -> dict[str, Any]:
        """Validate's form (rejects files, ``curate validate --json``)."""
        return {"code": self.code, "path": self.path, "message": self.message}

    def to_dict(self) -> dict[str, Any]:
        """The audit report's form."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "count": len(self.lines),
            "lines": self.lines,
            "example": self.example,
            "detail": self.detail,
        }
