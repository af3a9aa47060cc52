"""The loop's settings are declared once (LoopConfig's fields): the `mendb loop`
options and the HTTP schema of a loop's params are generated from them, and both
paths refuse the same values."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from typing import Any

import click
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from mendb.db.errors import InvalidArgument, MendbError
from mendb.server.cli import cli
from mendb.server.loop_config import LoopConfig, loop_config
from mendb.server.params import run_param_types
from mendb.server.schemas import RunCreate
from mendb.server.setting_fields import check, click_options, declared, request_model, setting


@dataclass(frozen=True)
class WithPatience(LoopConfig):
    patience: int = setting(3, help="Rounds without a gain before the loop stops.", low=0, high=50)


def _command(cls: type) -> tuple[click.Command, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    @click.command()
    @click_options(cls)
    def command(**settings: Any) -> None:
        seen.append(settings)

    return command, seen


def test_a_new_setting_appears_on_the_command_line_and_in_the_schema() -> None:
    command, seen = _command(WithPatience)
    runner = CliRunner()
    shown = runner.invoke(command, ["--help"])
    assert shown.exit_code == 0
    assert "--patience INTEGER" in shown.output and "Rounds without a gain" in shown.output
    assert runner.invoke(command, ["--patience", "7"]).exit_code == 0
    assert seen[-1]["patience"] == 7 and WithPatience(**seen[-1]).patience == 7

    schema = request_model(WithPatience).model_json_schema()["properties"]["patience"]
    assert schema == {
        "default": 3,
        "description": "Rounds without a gain before the loop stops.",
        "minimum": 0,
        "maximum": 50,
        "title": "Patience",
        "type": "integer",
    }
    with pytest.raises(InvalidArgument, match="patience=51 is out of range") as refused:
        check(WithPatience(patience=51))
    assert refused.value.column == "patience"


def test_the_loop_command_offers_every_setting_but_k_with_its_default() -> None:
    command = cli.commands["loop"]
    options = {p.name: p for p in command.params if isinstance(p, click.Option)}
    offered = {f.name for f, declared_as, _ in declared(LoopConfig) if declared_as.cli}
    assert offered == {f.name for f in fields(LoopConfig)} - {"k"}
    assert set(options) == offered | {"as_json"}
    for field in fields(LoopConfig):
        if field.name in offered:
            assert options[field.name].default == field.default, field.name


def test_the_http_schema_names_every_setting_with_its_range() -> None:
    documented = RunCreate.model_json_schema()["properties"]["params"]["anyOf"][0]
    assert documented["title"] == "LoopSettings"
    assert set(documented["properties"]) == {f.name for f in fields(LoopConfig)}
    assert set(run_param_types("loop", None)) == set(documented["properties"])
    for field, declared_as, _ in declared(LoopConfig):
        spec = documented["properties"][field.name]
        spec = next((s for s in spec.get("anyOf", []) if s["type"] != "null"), spec)
        assert spec.get("minimum") == declared_as.low, field.name
        assert spec.get("maximum") == declared_as.high, field.name
        choices = declared_as.choice_list()
        assert spec.get("enum") == (list(choices) if choices else None), field.name


def _outside(low: float | None, high: float | None) -> list[float]:
    values = [math.nan]
    if low is not None:
        values.append(low - 1 if isinstance(low, int) else low - 0.5)
    if high is not None:
        values.append(high + 1)
    return values


RANGED = [
    (field.name, value)
    for field, declared_as, _ in declared(LoopConfig)
    if declared_as.low is not None or declared_as.high is not None
    for value in _outside(declared_as.low, declared_as.high)
]


@pytest.mark.parametrize(("name", "value"), RANGED)
def test_both_paths_refuse_the_same_values(name: str, value: float) -> None:
    """The command line, the HTTP API (and the worker) and the generated schema
    refuse a value just outside the declared range, naming the setting."""
    spelled = name.replace("_", "-")
    with pytest.raises(InvalidArgument, match=spelled) as over_http:
        loop_config({name: value})
    assert over_http.value.column == name
    with pytest.raises(ValidationError):
        request_model(LoopConfig).model_validate({name: value})
    field = next(f for f in fields(LoopConfig) if f.name == name)
    if field.metadata["mendb.setting"].cli and not math.isnan(value):
        result = CliRunner().invoke(cli, ["loop", "d", f"--{spelled}", str(value), "--json"])
        assert result.exit_code == 1, result.output
        error = json.loads(result.stderr)
        assert error["error"] == "InvalidArgument" and spelled in error["message"]


def test_the_defaults_and_the_bounds_pass() -> None:
    LoopConfig().check()
    for field, declared_as, _ in declared(LoopConfig):
        for bound in (declared_as.low, declared_as.high):
            if bound is not None:
                loop_config({field.name: bound})
                request_model(LoopConfig).model_validate({field.name: bound})


def test_choices_are_checked_on_both_paths() -> None:
    with pytest.raises(MendbError, match="policy 'yolo'"):
        loop_config({"policy": "yolo"})
    with pytest.raises(MendbError, match="method 'astrology'"):
        loop_config({"method": "astrology"})
    assert loop_config({"method": "knn_shapley", "budget": None}).budget is None
    result = CliRunner().invoke(cli, ["loop", "d", "--policy", "yolo"])
    assert result.exit_code == 2 and "yolo" in result.output  # click refuses it


def test_the_users_model_is_one_setting_on_both_paths() -> None:
    """`model` / `model_params` come from LoopConfig's fields: a CLI option taking
    JSON, an object in the HTTP schema, checked before anything runs."""
    command, seen = _command(LoopConfig)
    runner = CliRunner()
    params = '{"max_iter": 20}'
    given = ["--model", "sklearn.ensemble:HistGradientBoostingRegressor", "--model-params", params]
    assert runner.invoke(command, given).exit_code == 0
    config = LoopConfig(**seen[-1])
    assert config.model_params == {"max_iter": 20}
    spec = config.model_spec()
    assert spec is not None and spec.to_params() == {
        "model": "sklearn.ensemble:HistGradientBoostingRegressor",
        "model_params": {"max_iter": 20},
    }
    refused = runner.invoke(command, ["--model-params", "[1, 2]"])
    assert refused.exit_code == 2 and "not a JSON object" in refused.output
    documented = request_model(LoopConfig).model_json_schema()["properties"]
    assert {"type": "object", "additionalProperties": True} in documented["model_params"]["anyOf"]
    assert loop_config({"model": "sklearn.linear_model:Ridge", "model_params": {"alpha": 2.0}})


@pytest.mark.parametrize(
    ("params", "column", "message"),
    [
        ({"model": "sklearn.no_such_module:Thing"}, "model", "cannot be imported"),
        ({"model": "sklearn.utils:Bunch"}, "model", "lacks fit and predict"),
        ({"model": "json:JSONDecoder"}, "model", "may come from"),
        ({"model": "sklearn.linear_model:Ridge", "model_params": {"nope": 1}}, "model_params",
         "does not take the parameters"),
        ({"model_params": {"alpha": 1}}, "model_params", "without a model"),
    ],
)  # fmt: skip
def test_a_model_that_cannot_be_used_is_refused_before_the_loop(
    params: dict[str, Any], column: str, message: str
) -> None:
    from mendb.valuation.models import InvalidModel

    with pytest.raises(InvalidModel, match=message) as refused:
        loop_config(params)
    assert refused.value.column == column
