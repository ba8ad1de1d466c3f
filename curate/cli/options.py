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
    """A click option that sets ``section.key`` of a config (``key`` a field of ``owner``).

    ``owner`` may be a section name (``"dedup"``): its class is imported when the option is
    first needed (help, default, parsing), so ``curate --help`` does not import every stage.
    Default, help, type and show-default come from the field unless the command gave them.
    """

    def __init__(
        self,
        *args: Any,
        owner: type | str,
        section: str,
        key: str,
        derive: Callable[[type], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.owner, self.section, self.key, self.derive = owner, section, key, derive
        self._given = set(kwargs)
        self._resolved = False
        super().__init__(*args, **kwargs)

    def resolve(self) -> None:
        """Fill what the command left out from the dataclass field (once)."""
        if self._resolved:
            return
        self._resolved = True
        cls = owner_class(self.owner)
        default = self.derive(cls) if self.derive else field_default(cls, self.key)
        if "default" not in self._given:
            self.default = default
        if "help" not in self._given:
            self.help = field_help(cls).get(self.key)
        if "type" not in self._given and not self.is_flag:
            click_type, _ = _click_type(typing.get_type_hints(cls).get(self.key))
            self.type = click.types.convert_type(click_type)
        if "show_default" not in self._given:
            shown = default is not None and not isinstance(default, tuple | list)
            self.show_default = shown and (not self.is_flag or bool(self.secondary_opts))

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.resolve()
        return super().get_help_record(ctx)

    def get_default(self, ctx: click.Context, call: bool = True) -> Any:
        self.resolve()
        return super().get_default(ctx, call)

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        self.resolve()
        return super().process_value(ctx, value)


def owner_class(owner: type | str) -> type:
    """``owner`` itself, or the option dataclass of the config section it names."""
    if not isinstance(owner, str):
        return owner
    from curate.pipeline.config import SECTIONS

    if owner in SECTIONS:
        return SECTIONS[owner]
    from train.config import SECTIONS as TRAIN_SECTIONS

    return TRAIN_SECTIONS[owner]


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
    owner: type | str, name: str, *param_decls: str, section: str | None = None, **kwargs: Any
) -> Callable[[F], F]:
    """``click.option`` for field ``name`` of ``owner``: a section name (``"dedup"``) or an
    option dataclass of config section ``section``.

    Default: ``--field-name``, with the field's default, type and help (the class
    docstring's ``Attributes:`` text); ``kwargs`` override any of them (``help`` for a
    command-specific wording, ``type`` for a range click should enforce). ``derive``: a
    function of the class giving the shown default (``--method exact,near``). A repeatable
    field needs ``multiple=True`` when ``owner`` is a string (it is decided before import).
    The default is shown, never passed on: a flag counts only when typed (``section_flags``).
    """
    if not param_decls:
        param_decls = (f"--{name.replace('_', '-')}",)
    if not any(d.isidentifier() for d in param_decls):
        param_decls = (*param_decls, name)
    if not isinstance(owner, str) and not kwargs.get("is_flag") and "multiple" not in kwargs:
        kwargs["multiple"] = _click_type(typing.get_type_hints(owner).get(name))[1]
    section = section or str(owner)
    return click.option(
        *param_decls, cls=FieldOption, owner=owner, section=section, key=name, **kwargs
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


def config_option(section: str, help: str | None = None) -> Callable[[F], F]:
    """``--config FILE``: the command reads its ``section:`` of a curate config file."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help=help
        or f"YAML config (the file curate run reads); its {section}: section sets this "
        "command's options, flags override it.",
    )


def section_options(
    ctx: click.Context,
    section: str,
    config_path: str | None,
    extra: Mapping[str, Any] | None = None,
) -> Any:
    """The options of ``section``: default < that section of the ``--config`` file < typed
    flags (``extra``: typed values the command renamed or combined itself)."""
    from curate.config import build
    from curate.pipeline.config import load_section

    flags = {**section_flags(ctx, section), **(extra or {})}
    file = load_section(config_path, section)
    return build(owner_class(section), file, flags, section=section)
