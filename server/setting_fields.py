"""Settings declared once, as dataclass fields, and what is generated from them:
the command line's click options, the HTTP API's JSON schema, and the check both
paths run.

A field declared with `setting(default, help=..., low=..., high=..., choices=...)`
carries its help, its range and its choices in its metadata. `click_options(cls)`
turns every such field into an option of a command, `request_model(cls)` into a
field of a pydantic model (whose JSON schema documents the HTTP request), and
`check(obj)` refuses a value outside the range or the choices, naming the setting.
A new setting is one new field: it appears on both paths, with the same range.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from mendb.db.errors import InvalidArgument

if typing.TYPE_CHECKING:
    from pydantic import BaseModel

Choices = tuple[str, ...] | Callable[[], tuple[str, ...]]
"""The values a setting may take, or a function that lists them (for a list whose
import is heavy, read when first needed)."""

_KEY = "mendb.setting"


@dataclass(frozen=True)
class Setting:
    """What a field declares beyond its type and default."""

    help: str | None = None
    low: float | None = None
    high: float | None = None
    choices: Choices | None = None
    flag: str | None = None
    """The option's declaration when it is not `--the-name` (e.g. `--on/--off`)."""
    cli: bool = True
    """Whether the command line offers it; the HTTP API always does."""

    def choice_list(self) -> tuple[str, ...] | None:
        return self.choices() if callable(self.choices) else self.choices


# Deliberately like db/row_values.py:list_scores in shape only: keyword-only optional
# arguments, each defaulting to None.
def setting(
    default: Any,
    *,
    help: str | None = None,
    low: float | None = None,
    high: float | None = None,
    choices: Choices | None = None,
    flag: str | None = None,
    cli: bool = True,
) -> Any:
    """A dataclass field with its default and what the options and the schema say."""
    declared = Setting(help, low, high, choices, flag, cli)
    return dataclasses.field(default=default, metadata={_KEY: declared})


def declared(cls: type) -> list[tuple[dataclasses.Field[Any], Setting, Any]]:
    """Each field of a settings dataclass: the field, its declaration, its type."""
    hints = typing.get_type_hints(cls)
    return [
        (field, field.metadata.get(_KEY, Setting()), hints[field.name])
        for field in dataclasses.fields(cls)
    ]


def spelled(name: str) -> str:
    """A setting's name as messages and flags spell it: max_rounds -> max-rounds."""
    return name.replace("_", "-")


def check(settings: Any) -> None:
    """Refuse the first value outside its declared range or choices, naming it
    (NaN is outside every range); None passes where the default is None."""
    for field, declared_as, _ in declared(type(settings)):
        value = getattr(settings, field.name)
        if value is None and field.default is None:
            continue
        name = spelled(field.name)
        choices = declared_as.choice_list()
        if choices is not None and value not in choices:
            raise InvalidArgument(f"{name} {value!r} must be one of {choices}", column=field.name)
        low, high = declared_as.low, declared_as.high
        if (low is not None and not value >= low) or (high is not None and not value <= high):
            raise InvalidArgument(
                f"{name}={value} is out of range: {name} must be {_range(low, high)}",
                column=field.name,
            )


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _base_type(hint: Any) -> Any:
    """int for `int | None`; the type itself otherwise."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) and args else hint


def _is_object(kind: Any) -> bool:
    """Whether a setting holds a JSON object (a dict), spelled as JSON on the command line."""
    return kind is dict or typing.get_origin(kind) is dict


def _json_object(click: Any) -> Any:
    """A click type reading a JSON object; a bad one is refused naming the option."""
    import json

    class JsonObject(click.ParamType):  # type: ignore[misc, name-defined]
        name = "json"

        def convert(self, value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, dict):
                return value
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as error:
                self.fail(f"{value!r} is not JSON: {error}", param, ctx)
            if not isinstance(parsed, dict):
                self.fail(f"{value!r} is not a JSON object", param, ctx)
            return parsed

    return JsonObject()


def click_options(cls: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding one click option per setting of `cls` offered on the
    command line, in declaration order; each passes its value as the field's name."""
    import click  # the HTTP side never needs it

    options = []
    for field, declared_as, hint in declared(cls):
        if not declared_as.cli:
            continue
        kind = _base_type(hint)
        choices = declared_as.choice_list()
        extra: dict[str, Any] = {}
        if kind is bool:
            extra["is_flag"] = True
        elif _is_object(kind):
            extra["type"] = _json_object(click)
        elif choices is not None:
            extra["type"] = click.Choice(list(choices))
        else:
            extra["type"] = kind
        options.append(
            click.option(
                declared_as.flag or f"--{spelled(field.name)}",
                field.name,
                default=field.default,
                show_default=field.default is not None,
                help=declared_as.help,
                **extra,
            )
        )

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def request_model(cls: type, name: str | None = None) -> type[BaseModel]:
    """A pydantic model with one field per setting of `cls`: its JSON type,
    default, description, range and choices (an unknown key is refused)."""
    from pydantic import ConfigDict, Field, create_model  # the CLI never needs it

    fields: dict[str, Any] = {}
    for field, declared_as, hint in declared(cls):
        choices = declared_as.choice_list()
        if choices is not None:
            hint = Literal[choices]
        described = Field(
            default=field.default,
            description=declared_as.help,
            ge=declared_as.low,
            le=declared_as.high,
        )
        fields[field.name] = (hint, described)
    model: type[BaseModel] = create_model(
        name or cls.__name__,
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return model
