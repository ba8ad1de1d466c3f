"""Early checks of ``curate run``: everything the config names is checked before the first
heavy stage (embedding, dedup, audit), so a typo costs seconds, not the whole run.

- paths (``preflight``, before the input is read): tokenizer folders, a user schema, the
  ``dedup.against`` files and folders;
- fields (``check_fields``, once the records are read, before embedding): ``split.stratify``
  keys that are record fields, ``split.group`` and ``audit.label`` must be present in at
  least one record (the split's own rule for a missing field).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from curate.errors import ConfigError
from curate.records import Record


def tokenizer_paths(config: Any) -> list[tuple[str, str]]:
    """(config key, path) of every tokenizer the config names."""
    named = [
        ("validate.tokenizer", config.validate.tokenizer),
        ("filter.tokenizer", config.filter.tokenizer),
        ("audit.tokenizer", getattr(config.audit, "tokenizer", None)),
        ("split.tokenizer", getattr(config.split, "tokenizer", None)),
    ]
    return [(k, str(v)) for k, v in named if v]


def preflight(config: Any) -> None:
    """Raise ``ConfigError`` / ``InputError`` for a path the config names that is not there."""
    from curate.dedup.files import against_files

    for key, path in tokenizer_paths(config):
        if not Path(path).is_dir():
            raise ConfigError(f"{key}: {path}: no such folder (a local tokenizer folder)")
    schema = config.validate.schema
    if schema and not Path(schema).is_file():
        raise ConfigError(f"validate.schema: {schema}: no such file")
    if config.dedup.against:
        against_files(config.dedup.against)


def named_fields(config: Any) -> list[tuple[str, str]]:
    """(config key, dotted field path) of every record field the config names."""
    from curate.split.strata import COMPUTED, FIELD_PREFIX

    out = []
    for key in config.split.stratify:
        if key not in COMPUTED:
            out.append(("split.stratify", key.removeprefix(FIELD_PREFIX)))
    if config.split.group:
        out.append(("split.group", config.split.group))
    label = getattr(config.audit, "label", None)
    if label:
        out.append(("audit.label", label))
    return out


def check_fields(records: Sequence[Record], config: Any) -> None:
    """A field that no record has is a typo: fail now, naming the fields there are."""
    from curate.split.strata import MISSING, field_value, no_field_error

    for option, path in named_fields(config):
        # One record with the field settles it (usually the first): no pass over all of them
        # (two fields named on 1M records cost ~6 s, on the run's serial path).
        if records and not any(field_value(r.data, path) != MISSING for r in records):
            raise no_field_error(records, path, option)
