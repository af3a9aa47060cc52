"""Request and response models of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, Field

from mendb.server.loop_config import LoopConfig
from mendb.server.setting_fields import request_model

BigId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
T = TypeVar("T")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool
    workers_alive: int
    """Workers heard from within three of their heartbeats."""
    last_heartbeat: datetime | None
    """The latest heartbeat of any worker; None if no worker ever ran."""
    queued: int
    oldest_queued_seconds: float | None


class ErrorBody(BaseModel):
    error: str
    message: str
    table: str | None = None
    column: str | None = None
    row: str | None = None


class FeatureSpec(BaseModel):
    name: Name
    kind: Literal["numeric", "categorical", "vector", "text"] | None = None


class DatasetCreate(BaseModel):
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")]
    table: Name
    key: Name
    label: Name
    features: list[FeatureSpec] | None = None
    validation_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    seed: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] = 0
    validation_table: Name | None = None
    task: Literal["classification", "regression"] | None = Field(
        default=None,
        description="What the label is; null: from its type and values (an ambiguous"
        " label is refused, asking for it).",
    )


class DatasetPublic(BaseModel):
    name: str
    table: str
    key: str
    label: str
    features: list[dict[str, Any]]
    split: dict[str, Any]
    task: Literal["classification", "regression"]


class DatasetRegistered(DatasetPublic):
    left_out: list[str] = Field(
        default_factory=list,
        description="Columns that number the rows, left out of the default features.",
    )


def _document_loop_settings(schema: dict[str, Any]) -> None:
    """Let the OpenAPI schema of `params` show the loop's settings, generated from
    their one declaration (server/loop_config.py); `params` itself stays an object,
    checked by the kind of run it is for (`server.params.check_param_types`)."""
    loop = request_model(LoopConfig, "LoopSettings").model_json_schema()
    schema["anyOf"] = [loop, {"type": "object", "title": "OtherParams"}]


class RunCreate(BaseModel):
    dataset: Name
    kind: Literal["value", "propose", "apply", "loop"] = "value"
    method: Name | None = Field(default=None, description="Valuation method (kind 'value').")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Kind 'value': the method's parameters; kind 'loop': the loop's settings"
        " (LoopSettings); kind 'propose': max_rows, k, verify; kind 'apply': none.",
        json_schema_extra=_document_loop_settings,
    )


class RunPublic(BaseModel):
    id: int
    dataset: str
    kind: str
    method: str | None
    params: dict[str, Any]
    status: str
    progress: float
    eta_seconds: float | None
    metrics: dict[str, Any]
    diagnostics: dict[str, Any]
    error: str | None
    attempts: int
    cancel_requested: bool
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ScorePublic(BaseModel):
    row_key: str
    method: str
    value: float
    stderr: float
    samples: int
    rank: int
    run_id: int
    computed_at: datetime | None
    stale: bool
    converged: bool | None = Field(
        default=None,
        description="False when the run's Monte Carlo estimate failed its own convergence"
        " checks; null for exact methods.",
    )
    convergence_warning: str | None = None


class RepairPublic(BaseModel):
    id: int
    dataset: str
    run_id: int | None
    row_key: str
    column_name: str
    old_value: str | None
    new_value: str | None
    kind: str
    repairer: str
    confidence: float
    evidence: dict[str, Any]
    status: str
    status_at: datetime
    status_by: str
    applied_txid: int | None
    reverted_txid: int | None


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None

    @classmethod
    def of(cls, items: list[T], limit: int, offset: int) -> Self:
        """The page at `offset`; a full page says where the next one starts."""
        next_offset = offset + limit if len(items) == limit else None
        return cls(items=items, limit=limit, offset=offset, next_offset=next_offset)


class ReviewRequest(BaseModel):
    """Name the repairs: by id, or every proposal of `dataset` at `min_confidence`."""

    ids: Annotated[list[BigId], Field(max_length=10_000)] | None = None
    dataset: Name | None = None
    min_confidence: Annotated[float, Field(ge=0, le=1)] | None = None


class Reviewed(BaseModel):
    changed: list[int]


class RevertRequest(BaseModel):
    ids: Annotated[list[BigId], Field(min_length=1, max_length=10_000)] | None = None
    all: bool = False


class BatchPublic(BaseModel):
    done: list[int]
    stale: list[int]
