"""One config loader for every command: YAML sections -> option dataclasses.

The option dataclasses (``RunOptions``, ``DedupConfig``, ``SplitConfig``, ``TrainingSection``
...) are the single source of keys, types and defaults; this module knows none of them. A
caller hands ``load_config`` the sections it knows (``curate.pipeline.config.SECTIONS`` for
the curation commands, ``train.config.SECTIONS`` for ``curate train``):

    run:      {seed: 1, semantic: false}
    dedup:    {near_threshold: 0.8}
    split:    {test_size: 0.1, stratify: [category]}

Precedence: dataclass default < file < command-line flag (``build``). Unknown sections and
keys are a ``ConfigError`` naming the file, section and key (with the closest valid key),
raised before any data is read; a flag's value gets the same type and range checks as the
file's (``check_flags``). Option spelling with dashes (``test-size``) or underscores both work.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from curate.errors import ConfigError

# Option names that are not valid field names: key -> field.
ALIASES: dict[str, str] = {"from": "fmt"}

SEED_MAX = 2**32 - 1  # numpy's legacy RandomState (used by faiss/sklearn paths) takes < 2**32
INT_MAX = 2**63 - 1
# Allowed ranges, checked the same way for a config file and for command-line flags:
# (section or "*", key) -> (low, high, low_open, high_open). Every other int key must be >= 0
# and fit 64 bits; every float key must be finite.
RANGES: dict[tuple[str, str], tuple[float, float, bool, bool]] = {
    ("*", "seed"): (0, SEED_MAX, False, False),
    ("dedup", "near_threshold"): (0, 1, True, False),
    ("dedup", "semantic_threshold"): (0, 1, True, False),
    ("dedup", "shingle_size"): (1, INT_MAX, False, False),
    ("dedup", "num_perm"): (1, INT_MAX, False, False),
    ("dedup", "bands"): (1, INT_MAX, False, False),
    ("dedup", "neighbours"): (1, INT_MAX, False, False),
    ("split", "clusters"): (1, INT_MAX, False, False),
    ("split", "length_buckets"): (1, INT_MAX, False, False),
    ("audit", "max_embed"): (1, INT_MAX, False, False),
    ("audit", "max_clusters"): (1, INT_MAX, False, False),
    ("audit", "conflict_similarity"): (0, 1, False, False),
    ("audit", "style_rare_share"): (0, 1, False, False),
    ("audit", "style_length_z"): (0, 1e9, True, False),
    ("validate", "max_tokens"): (1, INT_MAX, False, False),
    ("filter", "max_tokens"): (1, INT_MAX, False, False),
    # curate train's sections (train/config.py); its contradictions are checked there.
    ("training", "max_steps"): (-1, INT_MAX, False, False),  # -1: train for epochs
}
# A float without a dot (2e-4, 1E5): YAML 1.1, which PyYAML follows, reads it as a string.
YAML11_FLOAT = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")
MAX_NODES = 100_000  # YAML aliases can make a small file a huge tree ("billion laughs")


def _norm(key: Any) -> str:
    name = str(key).replace("-", "_")
    return ALIASES.get(name, name)


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """The parsed YAML of ``path`` (None when empty), refused when it cannot be read, does not
    parse, or its anchors make a cycle or a huge tree."""
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
    if raw is not None:
        _check_tree(p, raw)
    return raw


def load_config(
    path: str | os.PathLike[str] | None, sections: Mapping[str, type]
) -> dict[str, dict[str, Any]]:
    """Read and check a config file against ``sections`` (name -> option dataclass).

    Returns section -> {key: value}, keys normalised and values type- and range-checked.
    ``None`` gives an empty config.
    """
    if path is None:
        return {}
    p = Path(path)
    raw = read_yaml(p)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{p}: expected a mapping of sections, got {type(raw).__name__}")
    return {
        str(section): check_section(str(p), sections, section, values)
        for section, values in raw.items()
    }


def check_section(
    where: str, sections: Mapping[str, type], section: Any, values: Any
) -> dict[str, Any]:
    """One section's ``{key: value}`` checked against its dataclass (``where``: the file)."""
    if section not in sections:
        raise ConfigError(_unknown(where, "section", str(section), list(sections)))
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: section '{section}' must be a mapping of options")
    cls = sections[section]
    fields = {f.name for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    checked: dict[str, Any] = {}
    for key, value in values.items():
        name = _norm(key)
        if name not in fields:
            raise ConfigError(_unknown(where, f"key in '{section}'", str(key), list(fields)))
        checked[name] = check_value(where, str(section), name, value, hints.get(name))
    return checked


def _unknown(path: str | Path, what: str, name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(_norm(name), valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (valid: {', '.join(sorted(valid))})"
    return f"{path}: unknown {what}: '{name}'{hint}"


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation we cannot evaluate is simply not checked
        return {}


def _check_tree(path: Path, raw: Any) -> None:
    """Refuse a self-referencing YAML anchor, or aliases that expand to a huge tree."""
    nodes = 0
    stack: list[tuple[Any, frozenset[int]]] = [(raw, frozenset())]
    while stack:
        value, parents = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ConfigError(f"{path}: config expands to more than {MAX_NODES:,} values")
        if isinstance(value, Mapping | list):
            if id(value) in parents:
                raise ConfigError(f"{path}: a YAML anchor refers to itself (a cycle)")
            inner = parents | {id(value)}
            children = value.values() if isinstance(value, Mapping) else value
            stack.extend((child, inner) for child in children)


def check_value(where: str, section: str, name: str, value: Any, hint: Any) -> Any:
    """Type and range check of one key against its annotation and ``RANGES``.

    The one check for a config file's values and for command-line flags. ``where`` is the
    file, or the flag (``--seed``). Lists become tuples for tuple fields.

    Raises:
        ConfigError: ``WHERE: SECTION.KEY: expected ..., got ...``.
    """
    value = _check_type(where, section, name, value, hint)
    return _check_range(where, section, name, value)


def _fail(where: str, section: str, name: str, expected: str, value: Any) -> ConfigError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return ConfigError(
        f"{where}: {section}.{name}: expected {expected}, got {type(value).__name__} {shown}"
    )


def _check_range(where: str, section: str, name: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(where, section, name, "a finite number", value)
    bounds = RANGES.get((section, name)) or RANGES.get(("*", name))
    if bounds is None:
        if isinstance(value, int) and not 0 <= value <= INT_MAX:
            raise _fail(where, section, name, f"an integer from 0 to {INT_MAX}", value)
        return value
    low, high, low_open, high_open = bounds
    ok_low = value > low if low_open else value >= low
    ok_high = value < high if high_open else value <= high
    if not (ok_low and ok_high):
        text = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        if isinstance(value, int) and high >= INT_MAX:
            text = f">= {low + int(low_open):g}"
        raise _fail(where, section, name, f"a value in {text}", value)
    return value


def _check_type(where: str, section: str, name: str, value: Any, hint: Any) -> Any:
    """Type check against the field's annotation; lists become tuples for tuple fields."""
    allowed = _allowed(hint)
    literals = _literals(hint)
    if literals:
        if value in literals and type(value) in {type(v) for v in literals}:
            return value
        raise _fail(where, section, name, f"one of {', '.join(map(str, literals))}", value)
    if value is None and type(None) in allowed:
        return None
    if (nested := _dataclass_in(allowed)) is not None and isinstance(value, nested):
        return value  # built by the command (``--no-nfkc`` over the file's normalizer)
    if str in allowed and isinstance(value, str):
        return value  # ``list[str] | str`` (lora.target_modules: all-linear) keeps the string
    if float in allowed and isinstance(value, str) and YAML11_FLOAT.fullmatch(value):
        value = float(value)  # YAML 1.1 reads 2e-4 (no dot) as a string
    if tuple in allowed or list in allowed:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            item = _item_type(hint)
            bad = [v for v in value if item is not None and not isinstance(v, item)]
            if bad or (item is str and any(isinstance(v, bool) for v in value)):
                what = f"a list of {item.__name__ if item else 'values'}"
                raise _fail(where, section, name, what, value)
            return tuple(value) if tuple in allowed else list(value)
    if bool in allowed and isinstance(value, bool):
        return value
    if isinstance(value, bool):
        pass  # a bool is an int in Python; only accept it where bool is declared
    elif float in allowed and isinstance(value, int | float):
        return float(value) if math.isfinite(value) and abs(value) < 1e300 else value
    elif int in allowed and isinstance(value, int):
        return value
    elif str in allowed and isinstance(value, str):
        return value
    elif Path in allowed and isinstance(value, str | Path):
        return value
    elif dict in allowed and isinstance(value, Mapping):
        return dict(value)
    elif isinstance(value, Mapping) and (nested := _dataclass_in(allowed)) is not None:
        unknown = set(map(_norm, value)) - {f.name for f in dataclasses.fields(nested)}
        if unknown:
            raise ConfigError(f"{where}: unknown key in '{section}.{name}': '{sorted(unknown)[0]}'")
        nested_hints = _hints(nested)
        return nested(
            **{
                _norm(k): check_value(
                    where, f"{section}.{name}", _norm(k), v, nested_hints.get(_norm(k))
                )
                for k, v in value.items()
            }
        )
    elif not allowed:
        return value  # an annotation we do not check
    names = " or ".join(sorted({"null" if t is type(None) else t.__name__ for t in allowed}))
    raise _fail(where, section, name, names, value)


def _literals(hint: Any) -> tuple[Any, ...]:
    """The values of a ``Literal[...]`` annotation (also inside ``X | None``), else ()."""
    if hint is None:
        return ()
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        out: tuple[Any, ...] = ()
        for arg in typing.get_args(hint):
            out += _literals(arg)
        if out and type(None) in typing.get_args(hint):
            out += (None,)
        return out
    return ()


def _item_type(hint: Any) -> type | None:
    """The element type of ``tuple[str, ...]`` / ``list[str]`` (inside unions too)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if (found := _item_type(arg)) is not None:
                return found
        return None
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if len(args) == 1 and isinstance(args[0], type):
            return args[0]
    return None


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


def check_flags(section: str, cls: type, flags: Mapping[str, Any]) -> dict[str, Any]:
    """Command-line values for ``section`` (dataclass ``cls``), through the file's checks.

    A key that is no field of ``cls`` passes through unchecked (the caller uses it).
    """
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    return {
        k: check_value(f"--{k.replace('_', '-')}", section, k, v, hints.get(k)) if k in names else v
        for k, v in flags.items()
    }


def build(
    cls: type,
    file_values: Mapping[str, Any],
    flags: Mapping[str, Any] | None = None,
    *,
    section: str | None = None,
) -> Any:
    """An instance of the section dataclass: defaults < file values < explicit flags.

    Flags get the same type and range checks as file values; a value the dataclass itself
    refuses is a ``ConfigError`` naming the section, never a traceback. ``section`` names the
    section in messages and range lookups (default: the class name).
    """
    section = section or cls.__name__
    names = {f.name for f in dataclasses.fields(cls)}
    values = dict(file_values)
    for key, value in check_flags(section, cls, flags or {}).items():
        if key in names:
            values[key] = value
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{section}: {exc}") from exc
