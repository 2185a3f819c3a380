"""How every ``charter`` command reads and answers, in one place.

Every sub-app is a :class:`CharterTyper`, so each command gets, without asking:

* help that reads like a command line: a switch is shown as a switch (no ``<bool>``),
  an argument as ``NAME`` in the usage line and its table (not ``{name}``);
* one output option: a command with ``--json`` also takes ``--format table|json``,
  and ``--json`` is the shorthand for ``--format json``. Commands with more formats
  (``findings``: sarif, ocsf; ``discover fs``: sarif) declare their own ``--format``
  next to ``--json``.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import typer
from typer._click import Context  # typer's own click
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

#: The parameter names the output convention is written against.
JSON_PARAM = "json_out"
FORMAT_PARAM = "output_format"
JSON_HELP = "shorthand for --format json"
_REQUIRED_PIECE = re.compile(r"^\{(?P<name>.+)\}(?P<more>\.\.\.)?$")


class TableOrJson(StrEnum):
    """What a listing prints: a table for people, JSON for machines."""

    TABLE = "table"
    JSON = "json"


class _ReadableHelp:
    """Switches without a type, arguments as NAME: how a newcomer reads a usage line."""

    def get_params(self, ctx: Context) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if isinstance(param, TyperArgument) and param.metavar is None and param.name:
                param.metavar = param.name.upper()
            elif isinstance(param, TyperOption) and param.metavar is None and param.is_flag:
                param.metavar = ""  # a switch takes no value: show none
        return params

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)  # type: ignore[misc]
        return [_REQUIRED_PIECE.sub(r"\g<name>\g<more>", piece) for piece in pieces]


class CharterCommand(_ReadableHelp, TyperCommand):
    """A leaf command with readable help."""


class CharterGroup(_ReadableHelp, TyperGroup):
    """A command group with readable help, listing its commands in ``order`` (if any)."""

    #: command name -> position in the help; unlisted commands follow, as created
    order: ClassVar[dict[str, int]] = {}

    def list_commands(self, ctx: Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: self.order.get(name, len(self.order)))


def _format_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with ``--format table|json`` beside its ``--json`` (which stays a shorthand).

    The function itself is unchanged: the wrapper turns ``--format json`` into
    ``json_out=True`` before calling it, and gives ``--json`` the one help text.
    """
    signature = inspect.signature(func, eval_str=True)
    names = list(signature.parameters)
    if JSON_PARAM not in names or FORMAT_PARAM in names:
        return func
    parameters = []
    for original in signature.parameters.values():
        # typer passes keywords only; so may the wrapper, whatever the order of defaults
        parameter = original.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        if parameter.name == JSON_PARAM:
            parameters.append(
                inspect.Parameter(
                    FORMAT_PARAM,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=TableOrJson.TABLE,
                    annotation=Annotated[
                        TableOrJson,
                        typer.Option("--format", help="table or json (--json is its shorthand)"),
                    ],
                )
            )
            parameter = parameter.replace(
                annotation=Annotated[bool, typer.Option("--json", help=JSON_HELP)]
            )
        parameters.append(parameter)

    @functools.wraps(func)
    def with_format(*args: Any, **kwargs: Any) -> Any:
        chosen = kwargs.pop(FORMAT_PARAM, TableOrJson.TABLE)
        kwargs[JSON_PARAM] = bool(kwargs.get(JSON_PARAM)) or chosen == TableOrJson.JSON
        return func(*args, **kwargs)

    with_format.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_format.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_format


class CharterTyper(typer.Typer):
    """``typer.Typer`` whose commands follow the conventions above."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", CharterGroup)
        kwargs.setdefault("rich_markup_mode", "rich")
        super().__init__(**kwargs)

    def command(  # type: ignore[override]
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(name, cls=cls or CharterCommand, **kwargs)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            register(_format_option(func))
            return func

        return decorator

    def callback(  # type: ignore[override]
        self, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().callback(**kwargs)  # the group's class is the app's (__init__)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            register(_format_option(func))
            return func

        return decorator


def group_by_job(app: typer.Typer, panels: dict[str, tuple[str, ...]]) -> None:
    """Show ``app``'s commands in these help panels, in this order; the rest go last.

    ``panels`` maps a panel's title to its commands' names; a name no command
    has is skipped, so the table may name a command another module adds later.
    """
    order = {
        name: index for index, name in enumerate(n for names in panels.values() for n in names)
    }
    panel_of = {name: title for title, names in panels.items() for name in names}

    def command_name(info: Any) -> str:
        return str(info.name or info.callback.__name__.lower().replace("_", "-"))

    infos: list[Any] = [*app.registered_commands, *app.registered_groups]
    for info in infos:
        name = command_name(info)
        if name in panel_of:
            info.rich_help_panel = panel_of[name]
    app.info.cls = type("JobGroup", (CharterGroup,), {"order": order})
