"""`docs/CONFIG.md`, made from the settings model: every key, its type, its default, its
environment variable and its meaning (the field's docstring). A test keeps the file
in step; after a change to `config.py`, write it again with

    python -m hlsd.config_reference > docs/CONFIG.md
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from hlsd.config import Settings, Unit

__all__ = ["render"]

_HEADER = """# Configuration reference

Made from the settings model by `python -m hlsd.config_reference`; do not edit by hand.

Keys are read, highest priority first, from the command line (`--host`, `--port`,
`--workers`, `--server`, `--tls-cert`, `--tls-key`), environment variables (`HLSD_` and
the key, nested keys joined by `__`: `HLSD_CACHE__SIZE=2GB`), the YAML file given with
`--config`, and these defaults. The seed's `hls.yaml` keys (`cache`, `port`,
`handshake`, `url`) are read as they are.

Sizes are written `100MB`, `1.5GiB` or a number of bytes (decimal suffixes are powers of
1000). Durations are Go durations (`90s`, `1m30s`, `250ms`) or a number of seconds
(`cache.expiry`: minutes). Secrets are never logged.
"""


def render() -> str:
    """The whole reference, as Markdown."""
    parts = [_HEADER]
    top = [(name, field) for name, field in Settings.model_fields.items()
           if _model_of(field.annotation) is None]
    parts.append(_table("Top-level keys", None, top, prefix=""))
    for name, field in Settings.model_fields.items():
        section = _model_of(field.annotation)
        if section is not None:
            parts.extend(_sections(name, section))
    return "\n".join(parts)


def _sections(path: str, model: type[BaseModel]) -> Iterator[str]:
    plain = [(n, f) for n, f in model.model_fields.items() if _model_of(f.annotation) is None]
    yield _table(f"`{path}`", model, plain, prefix=path + ".")
    for name, field in model.model_fields.items():
        sub = _model_of(field.annotation)
        if sub is not None:
            yield from _sections(f"{path}.{name}", sub)
    for name, field in model.model_fields.items():
        item = _item_model(field.annotation)
        if item is not None:
            yield from _sections(f"{path}.{name}[]", item)


def _table(title: str, model: type[BaseModel] | None, fields: list[tuple[str, FieldInfo]],
           *, prefix: str) -> str:
    lines = [f"## {title}", ""]
    if model is not None and model.__doc__:
        lines += [_one_line(inspect.cleandoc(model.__doc__)), ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in fields:
        if not field.description:
            raise ValueError(f"{prefix}{name} has no docstring: say what it means")
        lines.append(f"| `{prefix}{name}` | {_type(field)} | {_default(field)} | "
                     f"{_one_line(field.description)} |")
    env = (f"Environment: `HLSD_{prefix.rstrip('.').upper().replace('.', '__')}__<KEY>`."
           if prefix and "[]" not in prefix else "")
    if env:
        lines += ["", env]
    return "\n".join(lines) + "\n"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return annotation if inspect.isclass(annotation) and issubclass(annotation,
                                                                   BaseModel) else None


def _item_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a list of sections (``assets.ladder``), if that is what it is."""
    for arg in typing.get_args(annotation):
        for inner in typing.get_args(arg) or (arg,):
            if _model_of(inner) is not None:
                return _model_of(inner)
    return None


def _type(field: FieldInfo) -> str:
    unit = next((m for m in field.metadata if isinstance(m, Unit)), None)
    text = unit.value if unit is not None else _annotation(field.annotation)
    bounds = []
    for m in field.metadata:
        if isinstance(m, Ge):
            bounds.append(f"≥ {m.ge}")
        elif isinstance(m, Gt):
            bounds.append(f"> {m.gt}")
        elif isinstance(m, Le):
            bounds.append(f"≤ {m.le}")
        elif isinstance(m, Lt):
            bounds.append(f"< {m.lt}")
    return f"{text} ({', '.join(bounds)})" if bounds else text


def _annotation(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        inner = " or ".join(_annotation(a) for a in args)
        return inner
    if origin is typing.Annotated:
        return _annotation(args[0])
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin is tuple:
        return f"list of {_annotation(args[0])}s" if args else "list"
    if inspect.isclass(annotation):
        if issubclass(annotation, enum.Enum):
            return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
        if issubclass(annotation, SecretStr):
            return "secret string"
        if issubclass(annotation, Path):
            return "path"
        if issubclass(annotation, BaseModel):
            return "section"
        return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
            annotation, annotation.__name__)
    return str(annotation)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple | list):
        return "`[]`" if not value else f"`{list(value)}`"
    unit = next((m for m in field.metadata if isinstance(m, Unit)), None)
    if unit is Unit.BYTES:
        return f"`{_size(int(value))}`"
    if unit in (Unit.SECONDS, Unit.MINUTES):
        return f"`{_duration(float(value))}`"
    if isinstance(value, Path):
        return f"`{value}`"
    return f"`{value}`"


def _size(n: int) -> str:
    for factor, suffix in ((1000**3, "GB"), (1000**2, "MB"), (1000, "KB"),
                           (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{suffix}"
    return str(n)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def _one_line(text: str) -> str:
    """Docstring text on one table line (their RST double backticks as Markdown's)."""
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")


if __name__ == "__main__":
    print(render(), end="")
