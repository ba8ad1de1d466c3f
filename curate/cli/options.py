"""Command-line flags made from the option dataclasses, and ``--config`` for every command.

A flag made by ``field_option`` takes its default (and, unless given, its help and type) from a
field of an option dataclass, TRL-style, and remembers which section and key it sets. A
command then asks ``section_flags`` for the flags the user actually typed, renamed to config
keys, and builds its options with ``curate.config.build``: dataclass default < the section of
the ``--config`` file < typed flags. Nothing here copies a default, so a default changed in a
dataclass reaches every command at once.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

import click
from click.core import ParameterSource

F = TypeVar("F", bound=Callable[..., Any])


class FieldOption(click.Option):
    """A click option that sets ``section.key`` of a config (``key`` a dataclass field)."""

    def __init__(self, *args: Any, section: str, key: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section
        self.key = key


def field_default(cls: type, name: str) -> Any:
    """The default of dataclass field ``name`` (a factory is called)."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


@cache
def field_help(cls: type) -> dict[str, str]:
    """``name -> text`` from the ``Attributes:`` section of a Google-style class docstring."""
    out: dict[str, str] = {}
    doc = (cls.__doc__ or "").expandtabs()
    _, found, rest = doc.partition("Attributes:")
    if not found:
        return out
    name = None
    indent = None
    for line in rest.splitlines()[1:]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth < indent:
            break
        match = re.match(r"(\w+)(?: \([^)]*\))?: (.*)", line.strip())
        if depth == indent and match:
            name = match.group(1)
            out[name] = match.group(2)
        elif name is not None:
            out[name] += " " + line.strip()
    out = {k: re.sub(r"``([^`]*)``", r"\1", v) for k, v in out.items()}
    return {k: v[:1].upper() + v[1:] for k, v in out.items()}


def _click_type(hint: Any) -> tuple[Any, bool]:
    """(click type, multiple) for a field annotation."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        hint = args[0]
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return click.Choice([str(a) for a in typing.get_args(hint)]), False
    if origin in (tuple, list):
        return str, True
    if hint in (int, float, str, bool):
        return hint, False
    return None, False


def field_option(
    cls: type, name: str, *param_decls: str, section: str, **kwargs: Any
) -> Callable[[F], F]:
    """``click.option`` for field ``name`` of ``cls`` (config section ``section``).

    Default: ``--field-name``, with the field's default, type and help (the class
    docstring's ``Attributes:`` text); ``kwargs`` override any of them (``help`` for a
    command-specific wording, ``type`` for a range click should enforce, ``default=None``
    where the command's own default differs and is applied by the command).
    """
    if not param_decls:
        param_decls = (f"--{name.replace('_', '-')}",)
    if not any(d.isidentifier() for d in param_decls):
        param_decls = (*param_decls, name)
    default = kwargs.pop("default", field_default(cls, name))
    if not kwargs.get("is_flag"):
        click_type, multiple = _click_type(typing.get_type_hints(cls).get(name))
        if click_type is not None and click_type is not bool:
            kwargs.setdefault("type", click_type)
        kwargs.setdefault("multiple", multiple)
    kwargs.setdefault("help", field_help(cls).get(name))
    if default is not None and not isinstance(default, tuple | list | bool):
        kwargs.setdefault("show_default", True)
    if isinstance(default, bool) and "/" in param_decls[0]:
        kwargs.setdefault("show_default", True)
    return click.option(
        *param_decls, cls=FieldOption, section=section, key=name, default=default, **kwargs
    )


def typed(ctx: click.Context, param: str) -> bool:
    """Whether the user gave ``param`` on the command line (not a default)."""
    source = ctx.get_parameter_source(param)
    return source is not None and source is not ParameterSource.DEFAULT


def section_flags(ctx: click.Context, section: str) -> dict[str, Any]:
    """The ``FieldOption``s of ``section`` the user typed, as ``{key: value}`` (tuples for
    repeatable options). Flags override the config file, so defaults never appear here."""
    out: dict[str, Any] = {}
    for param in ctx.command.params:
        if isinstance(param, FieldOption) and param.section == section and typed(ctx, param.name):
            value = ctx.params[param.name]  # type: ignore[index]
            out[param.key] = tuple(value) if isinstance(value, list | tuple) else value
    return out


def explicit_flags(ctx: click.Context, mapping: Mapping[str, str]) -> dict[str, Any]:
    """Options the user typed (not defaults), renamed by ``mapping`` (click param -> key)."""
    out = {}
    for param, key in mapping.items():
        if typed(ctx, param):
            value = ctx.params[param]
            out[key] = tuple(value) if isinstance(value, list | tuple) else value
    return out


def config_option(section: str) -> Callable[[F], F]:
    """``--config FILE``: the command reads its ``section:`` of a curate config file."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help=f"YAML config (the file curate run reads); its {section}: section sets this "
        "command's options, flags override it.",
    )


def section_options(
    ctx: click.Context,
    cls: type,
    section: str,
    config_path: str | None,
    extra: Mapping[str, Any] | None = None,
) -> Any:
    """``cls`` built from default < ``section`` of the ``--config`` file < typed flags
    (``extra``: typed values the command renamed or combined itself)."""
    from curate.config import build
    from curate.pipeline.config import load_section

    flags = {**section_flags(ctx, section), **(extra or {})}
    return build(cls, load_section(config_path, section), flags, section=section)
