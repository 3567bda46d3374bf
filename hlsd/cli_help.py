"""How ``hlsd … --help`` reads: click's plain layout, as most command-line tools.

Typer's rich panels print a type for every option (``<bool>``, ``<str>``, even on
``--help``), and keep the docstrings' line breaks in the command list. With
``rich_markup_mode=None`` and `PlainCommand`, help is plain text reflowed to the terminal:
``--config PATH`` (a value option shows its metavar, by default its name in capitals), a
flag shows nothing, an argument is ``SOURCE``. Docstrings are plain prose (no RST or
markdown); their first sentence is the command's line in the command list.
"""

from __future__ import annotations

from typing import Any

from typer import _click as click  # the click that this Typer carries (its own copy)
from typer.core import TyperArgument, TyperCommand, TyperOption

__all__ = ["PlainCommand"]


class PlainCommand(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.metavar is None and param.name and (
                    isinstance(param, TyperArgument)
                    or (isinstance(param, TyperOption) and not param.is_flag)):
                param.metavar = param.name.upper()

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(_argument(param) if param.required else f"[{_argument(param)}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if isinstance(param, TyperArgument):
                arguments.append((_argument(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _argument(param: TyperArgument) -> str:
    name = param.metavar or (param.name or "").upper()
    return name + ("..." if param.nargs != 1 else "")
