"""The YAML run config: one section per command, keys named after that command's options.

    run:      {seed: 1, semantic: false}
    dedup:    {near_threshold: 0.8}
    split:    {test_size: 0.1, stratify: [category]}

Precedence: dataclass default < file < command-line flag. Unknown sections and keys are a
``ConfigError`` naming the file, section and key (with the closest valid key), raised before
any data is read. Option spelling with dashes (``test-size``) or underscores both work.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from curate.errors import ConfigError

# section -> "module:Class" of the dataclass whose fields are the section's keys. Imported on
# demand so loading a config does not import every stage.
SECTIONS: dict[str, str] = {
    "run": "curate.pipeline:RunOptions",
    "validate": "curate.pipeline:ValidateOptions",
    "convert": "curate.pipeline:ConvertOptions",
    "filter": "curate.pipeline.filters:FilterConfig",
    "dedup": "curate.dedup:DedupConfig",
    "audit": "curate.audit:AuditConfig",
    "split": "curate.split:SplitConfig",
}


# Option names that are not valid field names: key -> field.
ALIASES: dict[str, str] = {"from": "fmt"}


def section_class(section: str) -> type:
    module, _, name = SECTIONS[section].partition(":")
    return getattr(importlib.import_module(module), name)


def _norm(key: Any) -> str:
    name = str(key).replace("-", "_")
    return ALIASES.get(name, name)


def load_config(path: str | os.PathLike[str] | None) -> dict[str, dict[str, Any]]:
    """Read and check a config file; returns section -> {key: value} (keys normalised).

    ``None`` gives an empty config.
    """
    if path is None:
        return {}
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config: {exc.strerror or exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{p}{where}: invalid YAML: {problem}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{p}: expected a mapping of sections, got {type(raw).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for section, values in raw.items():
        if section not in SECTIONS:
            raise ConfigError(_unknown(p, "section", str(section), list(SECTIONS)))
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise ConfigError(f"{p}: section '{section}' must be a mapping of options")
        cls = section_class(section)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = _hints(cls)
        checked: dict[str, Any] = {}
        for key, value in values.items():
            name = _norm(key)
            if name not in fields:
                raise ConfigError(_unknown(p, f"key in '{section}'", str(key), list(fields)))
            checked[name] = _check_type(p, section, name, value, hints.get(name))
        out[str(section)] = checked
    return out


def _unknown(path: Path, what: str, name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(_norm(name), valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (valid: {', '.join(sorted(valid))})"
    return f"{path}: unknown {what}: '{name}'{hint}"


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation we cannot evaluate is simply not checked
        return {}


def _check_type(path: Path, section: str, name: str, value: Any, hint: Any) -> Any:
    """Light type check against the field's annotation; lists become tuples for tuple fields."""
    allowed = _allowed(hint)
    if value is None and type(None) in allowed:
        return None
    if tuple in allowed or list in allowed:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return tuple(value) if tuple in allowed else value
    if bool in allowed and isinstance(value, bool):
        return value
    if isinstance(value, bool):
        pass  # a bool is an int in Python; only accept it where bool is declared
    elif float in allowed and isinstance(value, int | float):
        return float(value)
    elif int in allowed and isinstance(value, int):
        return value
    elif str in allowed and isinstance(value, str):
        return value
    elif dict in allowed and isinstance(value, Mapping):
        return dict(value)
    elif isinstance(value, Mapping) and (nested := _dataclass_in(allowed)) is not None:
        unknown = set(map(_norm, value)) - {f.name for f in dataclasses.fields(nested)}
        if unknown:
            raise ConfigError(f"{path}: unknown key in '{section}.{name}': '{sorted(unknown)[0]}'")
        return nested(**{_norm(k): v for k, v in value.items()})
    elif not allowed:
        return value  # an annotation we do not check
    names = " or ".join(sorted({t.__name__ for t in allowed}))
    raise ConfigError(
        f"{path}: {section}.{name}: expected {names}, got {type(value).__name__} {value!r}"
    )


def _dataclass_in(allowed: set[type]) -> type | None:
    return next((t for t in allowed if dataclasses.is_dataclass(t)), None)


def _allowed(hint: Any) -> set[type]:
    if hint is None:
        return set()
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        out: set[type] = set()
        for arg in typing.get_args(hint):
            out |= _allowed(arg)
        return out
    if origin is not None:
        return {origin} if isinstance(origin, type) else set()
    if hint is type(None):
        return {type(None)}
    return {hint} if isinstance(hint, type) else set()


def build(cls: type, file_values: Mapping[str, Any], flags: Mapping[str, Any] | None = None) -> Any:
    """An instance of the section dataclass: defaults < file values < explicit flags."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = dict(file_values)
    for key, value in (flags or {}).items():
        if key in names:
            values[key] = value
    return cls(**values)
