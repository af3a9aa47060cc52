"""Text repair: spelling correction against the trusted rows' vocabulary and the
bundled dictionary; a word either of them knows is never changed. The proposal's
evidence holds the word-level diff."""

from __future__ import annotations

import numpy as np

from mendb.repair.proposals import DiagnosisKind, RepairContext, RepairProposal
from mendb.repair.text import SpellCorrector, Vocabulary

_BY_DISTANCE = {1: 0.9, 2: 0.6}


class SpellingRepairer:
    name = "spelling_symspell"

    def __init__(self, min_count: int = 2) -> None:
        self.min_count = min_count

    def propose(self, context: RepairContext) -> list[RepairProposal]:
        proposals: list[RepairProposal] = []
        correctors: dict[str, SpellCorrector] = {}
        trusted = context.trusted()
        for diagnosis in context.diagnosed(DiagnosisKind.TEXT):
            column = context.column(diagnosis.column)
            if column.name not in correctors:
                texts = column.values[trusted]
                correctors[column.name] = SpellCorrector(
                    Vocabulary.from_texts(texts, self.min_count)
                )
            old = column.values[diagnosis.index]
            if old is None:
                continue
            new, diff = correctors[column.name].correct(str(old))
            if not diff:
                continue
            confidence = float(np.mean([_BY_DISTANCE.get(d["distance"], 0.5) for d in diff]))
            proposals.append(
                RepairProposal(
                    row_key=str(context.data.train.keys[diagnosis.index]),
                    column=column.name,
                    old_value=str(old),
                    new_value=new,
                    kind=DiagnosisKind.TEXT,
                    repairer=self.name,
                    confidence=round(confidence, 6),
                    evidence={**diagnosis.evidence.as_json(), "diff": diff},
                )
            )
        return proposals
