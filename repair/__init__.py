"""Diagnosis and repair proposals: arrays and values in, `RepairProposal`s out.

`pipeline.propose` is the chain (diagnose, repair, verify) that the service and the
benchmark share. Nothing here touches the database; `db/repairs.py` writes
proposals to the audit table and `db/apply.py` applies accepted ones.
"""

from mendb.repair.proposals import RepairProposal

__all__ = ["RepairProposal"]
