"""JSON Schemas: the bundled chat schema (shipped in the wheel) and a user's ``--schema FILE``.

jsonschema is the reference implementation here: it checks user schemas, and it gives every
error of a bundled-schema failure a JSON-pointer path. Valid records never reach it on the
bundled path (``checks.check_chat`` decides validity at parse speed).
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from typing import TYPE_CHECKING, Any

from curate.errors import ConfigError
from curate.validate.codes import Finding, finding

if TYPE_CHECKING:
    # jsonschema is imported where a schema is compiled: the bundled path never needs it,
    # and its import is ~0.14 CPU s of every `curate run` / `curate validate` otherwise.
    from jsonschema.protocols import Validator as SchemaValidator

BUNDLED_SCHEMA = "openai_chat.schema.json"
MAX_MESSAGE = 300


def bundled_schema_text(name: str = BUNDLED_SCHEMA) -> str:
    """The text of a schema shipped in ``curate/schemas`` (works from a wheel too)."""
    return resources.files("curate.schemas").joinpath(name).read_text(encoding="utf-8")


@functools.cache
def bundled_validator() -> SchemaValidator:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(bundled_schema_text()))


def load_schema(path: str | os.PathLike[str]) -> SchemaValidator:
    """A compiled validator for a user's schema file; its ``$schema`` picks the draft
    (Draft 2020-12 when absent). Raises ``ConfigError`` for a missing or invalid schema."""
    import jsonschema
    from jsonschema.exceptions import SchemaError

    try:
        with open(path, encoding="utf-8") as fh:
            schema = json.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read schema: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: schema is not valid JSON: line {exc.lineno}: {exc.msg}"
        ) from exc
    if not isinstance(schema, dict | bool):
        raise ConfigError(f"{path}: a JSON Schema must be an object")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(f"{path}: not a valid JSON Schema: {exc.message}") from exc
    return cls(schema)


def pointer(parts: Any) -> str:
    """A jsonschema error path (deque of keys / indices) as a JSON pointer."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def schema_findings(validator: SchemaValidator, data: Any) -> list[Finding]:
    """``schema_violation`` findings, one per jsonschema error, in path order."""
    out = []
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.path]):
        msg = err.message
        if len(msg) > MAX_MESSAGE:
            msg = msg[: MAX_MESSAGE - 3] + "..."
        out.append(finding("schema_violation", pointer(err.absolute_path), msg))
    return out
