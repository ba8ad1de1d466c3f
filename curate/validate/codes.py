"""Finding codes: stable snake_case names, their severity and what they mean.

Errors make a record invalid (exit code 1, written to ``--rejects``); warnings are reported
but the record stays valid. The table is the documentation: docs/validate.md mirrors it and a
test checks that every code here is documented there.
"""

from __future__ import annotations

from typing import Literal

from curate.findings import SEVERITY, Finding

__all__ = ["CODES", "ERROR", "WARNING", "Finding", "Severity", "finding"]

Severity = Literal["error", "warning"]
ERROR: Severity = "error"
WARNING: Severity = "warning"

# code -> (severity, group, meaning)
CODES: dict[str, tuple[Severity, str, str]] = {
    # reading (from curate.records.BadLine)
    "json_decode": (ERROR, "read", "the line is not valid JSON"),
    "invalid_utf8": (ERROR, "read", "the line is not valid UTF-8"),
    "too_deep": (ERROR, "read", "the JSON is nested deeper than 250 levels"),
    "not_an_object": (ERROR, "read", "the line is JSON but not an object (data type)"),
    "integer_out_of_range": (
        ERROR,
        "read",
        "an integer outside 64 bits (no output could keep it exactly)",
    ),
    "number_out_of_range": (ERROR, "read", "a number beyond float range (1e400), or NaN/Infinity"),
    "lone_surrogate": (ERROR, "read", "a \\u escape that is half a surrogate pair, not text"),
    "unwritable_value": (ERROR, "read", "a Parquet/HF value JSON cannot hold (bytes, decimal)"),
    "record_too_large": (ERROR, "read", "the record is over the 4 MiB size limit"),
    # conversion (from curate.formats.Converter)
    "unknown_format": (ERROR, "convert", "not chat, Alpaca, ShareGPT or prompt/completion"),
    "conversion_error": (ERROR, "convert", "the record claims a format but does not fit it"),
    # the bundled schema (schemas/openai_chat.schema.json)
    "missing_messages": (ERROR, "schema", "the record has no `messages` key"),
    "empty_messages": (ERROR, "schema", "`messages` is an empty list"),
    "invalid_type": (ERROR, "schema", "a value has the wrong JSON type (path says which)"),
    "missing_role": (ERROR, "schema", "a message has no `role`"),
    "unknown_role": (ERROR, "schema", "role is not system/developer/user/assistant/tool"),
    "missing_content": (
        ERROR,
        "schema",
        "`content` absent or null (allowed only for an assistant message with `tool_calls`)",
    ),
    "invalid_content": (ERROR, "schema", "`content` is not a string or a valid list of parts"),
    "unrecognized_key": (
        ERROR,
        "schema",
        "a message key the format does not know, or one that does not belong to its role",
    ),
    "missing_tool_call_id": (ERROR, "schema", "a tool message has no `tool_call_id`"),
    "invalid_tool_calls": (ERROR, "schema", "`tool_calls` / `function_call` malformed"),
    "invalid_weight": (ERROR, "schema", "`weight` is not 0 or 1"),
    "invalid_tools": (ERROR, "schema", "the top-level `tools` list is malformed"),
    "schema_violation": (
        ERROR,
        "schema",
        "the record breaks the schema (a --schema FILE, or a "
        "bundled-schema rule without a more specific code)",
    ),
    # structure (beyond what a schema can say)
    "no_assistant": (ERROR, "structure", "no assistant message: nothing to train on"),
    "empty_content": (ERROR, "structure", "content is empty or whitespace only"),
    "tool_call_unmatched": (ERROR, "structure", "a tool message answers no earlier tool call"),
    "last_not_assistant": (
        WARNING,
        "structure",
        "the last turn is not from the assistant (trailing turns are not trained on)",
    ),
    "consecutive_same_role": (
        WARNING,
        "structure",
        "two turns in a row from the same role (tool results excepted)",
    ),
    "system_not_first": (WARNING, "structure", "a system/developer message after other turns"),
    "tool_call_unanswered": (WARNING, "structure", "an assistant tool call gets no tool message"),
    "duplicate_tool_call_id": (WARNING, "structure", "two tool calls share one id"),
    "tool_arguments_not_json": (WARNING, "structure", "tool call `arguments` is not valid JSON"),
    "no_trainable_turn": (WARNING, "structure", "every assistant message has weight 0"),
    "over_max_tokens": (WARNING, "length", "longer than --max-tokens"),
    # the file as a whole
    "no_records": (WARNING, "file", "the input holds no records (empty, blank lines only, or [])"),
}

READ_CODES = frozenset(c for c, v in CODES.items() if v[1] == "read")
SCHEMA_CODES = frozenset(c for c, v in CODES.items() if v[1] == "schema")
SEVERITY.update({c: v[0] for c, v in CODES.items()})


def finding(code: str, path: str, message: str) -> Finding:
    """A ``Finding`` with the severity the table gives ``code`` (error for a code from another
    stage, e.g. a pipeline drop reason handed to ``Validator.reject``)."""
    entry = CODES.get(code)
    return Finding(code, message, entry[0] if entry else ERROR, path)
