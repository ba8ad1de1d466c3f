"""Validation of chat fine-tuning records: bundled schema + structural checks -> findings.

Public API:
    validate_record(data) -> list[Finding]        one record, bundled schema
    Validator(schema=None, tokenizer=None, max_tokens=None)
        a streaming step ``Record -> Record | Dropped`` with tallies; ``.report(...)``
    validate_file(path, schema=None, tokenizer=None, max_tokens=None, from_format=None,
                  rejects=None) -> ValidationReport
    Finding(code, path, message, severity), CODES (code -> severity, group, meaning)
"""

from curate.validate.codes import CODES, ERROR, WARNING, Finding
from curate.validate.validator import (
    ValidationReport,
    Validator,
    validate_file,
    validate_record,
)

__all__ = [
    "CODES",
    "ERROR",
    "WARNING",
    "Finding",
    "ValidationReport",
    "Validator",
    "validate_file",
    "validate_record",
]
