"""The benchmark's own bookkeeping: the report keeps other people's sections, the
metrics read "lower = more suspicious", and the noise lands where it says."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data import Table, make_cell
from bench.metrics import detection
from bench.report import replace_sections


def test_replace_sections_keeps_other_sections(tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\nintro\n\n## Service load\n\nkeep me\n\n"
                   "## Detection quality\n\nold\n")
    replace_sections({"Detection quality": "new", "How to run": "run it"}, doc)
    text = doc.read_text()
    assert "keep me" in text and "new" in text and "old" not in text
    assert text.index("## Service load") < text.index("## Detection quality")
    assert text.count("## Detection quality") == 1 and "## How to run" in text
    assert text.startswith("# Benchmarks\n\nintro\n")


def test_detection_scores_low_values_as_suspicious() -> None:
    noisy = np.array([True, False, False, True, False])
    values = np.array([-1.0, 0.5, 0.2, -0.5, np.inf])
    scores = detection(values, noisy)
    assert scores == {"auroc": 1.0, "ap": 1.0, "p_at_k": 1.0}


def test_flips_change_exactly_the_noisy_labels() -> None:
    rng = np.random.default_rng(0)
    table = Table("t", rng.normal(size=(200, 3)), rng.integers(0, 3, 200),
                  ("a", "b", "c"), ("x", "y", "z"), ("numeric",) * 3, {})
    clean, _ = make_cell(table, "features10", seed=1)
    data, noisy = make_cell(table, "flip20", seed=1)
    assert noisy.sum() == 24
    changed = data.train.y != clean.train.y
    np.testing.assert_array_equal(changed, noisy)
