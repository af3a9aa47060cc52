"""Datasets: register a table, list them, get one."""

from __future__ import annotations

from fastapi import APIRouter, status

from mendb.db import datasets
from mendb.db.datasets import SplitSpec
from mendb.db.features import left_out_columns
from mendb.server.deps import Admin, ConnDep, Reader
from mendb.server.schemas import DatasetCreate, DatasetPublic, DatasetRegistered

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.post("", status_code=status.HTTP_201_CREATED)
def register_dataset(body: DatasetCreate, conn: ConnDep, _token: Admin) -> DatasetRegistered:
    """Register a table as a dataset; every check runs before anything is written.
    Without `task` it comes from the label: an ambiguous one is refused (422),
    asking for it. Without `features`, every other column but one that numbers the
    rows (named in `left_out`)."""
    split = SplitSpec(
        body.validation_fraction, body.test_fraction, body.seed, body.validation_table
    )
    features: list[tuple[str, str | None]] | None = (
        [(f.name, f.kind) for f in body.features] if body.features else None
    )
    dataset = datasets.register(
        conn, body.name, body.table, body.key, body.label, features, split, task=body.task
    )
    left_out = (
        []
        if features
        else left_out_columns(conn, dataset.table, body.key, body.label, dataset.features)
    )
    return DatasetRegistered(**dataset.to_dict(), left_out=left_out)


@router.get("")
def list_datasets(conn: ConnDep, _token: Reader) -> list[DatasetPublic]:
    return [DatasetPublic(**d.to_dict()) for d in datasets.list_all(conn)]


@router.get("/{name}")
def get_dataset(name: str, conn: ConnDep, _token: Reader) -> DatasetPublic:
    return DatasetPublic(**datasets.get(conn, name).to_dict())
