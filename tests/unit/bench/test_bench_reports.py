"""The sections the benchmarks write to docs/BENCHMARKS.md render byte for byte as
they did before their prose moved to templates, from small fixed results."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.unit.bench import report_fixtures as fx

EXPECTED = Path(__file__).resolve().parent / "expected"
BENCH_OUT = Path(__file__).resolve().parents[3] / "bench" / "out"


def _influence(seeds: int = 3, gpu: bool = False, notes: str = "") -> Callable[[], str]:
    def render() -> str:
        from bench.influence.report import section

        return section(fx.influence_report(seeds, gpu, notes))

    return render


def _detection() -> str:
    from bench import detection

    return detection.section(fx.detection_report(), "Notes: by hand.\n")


def _read_path() -> str:
    from bench import read_path

    return read_path.section(fx.READ_PATH_RESULT, fx.READ_PATH_LOAD[0])


def _cli_start() -> str:
    from bench import cli_start

    return cli_start.section(fx.CLI_START_RESULT, fx.READ_PATH_LOAD[0])


def _quality() -> str:
    from bench import quality

    return quality.markdown(fx.quality_rows(), quality.Budget(6.0, 200, 600, 1000))


def _scaling(with_target: bool) -> Callable[[], str]:
    def render() -> str:
        from bench import scaling

        rows = fx.scaling_rows() if with_target else fx.scaling_rows()[2:]
        return scaling.markdown(rows, 25)

    return render


def _tmc(variant: str) -> Callable[[], str]:
    def render() -> str:
        from bench import tmc

        result = fx.tmc_result(reached=variant != "unreached")
        if variant == "failed":
            result["odv"] = {"ok": False, "error": "import failed"}
        return tmc.markdown(result)

    return render


def _million(complete: bool) -> Callable[[], str]:
    def render() -> str:
        from bench import million

        return million.markdown(fx.million_result() if complete else {"error": "setup failed"})

    return render


def _stamp() -> str:
    from bench import report

    return report.stamp(fx.BENCH_ENVIRONMENT)


def _how_to_run() -> str:
    from bench import report

    return report.how_to_run(fx.BENCH_ENVIRONMENT)


SECTIONS: dict[str, Callable[[], str]] = {
    "influence": _influence(),
    "influence-one-seed-gpu": _influence(seeds=1, gpu=True, notes="A note by hand."),
    "detection": _detection,
    "read_path": _read_path,
    "cli_start": _cli_start,
    "quality": _quality,
    "scaling": _scaling(True),
    "scaling-no-target": _scaling(False),
    "tmc": _tmc("reached"),
    "tmc-unreached": _tmc("unreached"),
    "tmc-failed": _tmc("failed"),
    "million": _million(True),
    "million-incomplete": _million(False),
    "stamp": _stamp,
    "how_to_run": _how_to_run,
}


@pytest.fixture(autouse=True)
def _fixed_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """read_path stamps the clock, the load and the CPU itself: hold them still."""
    import bench.report

    monkeypatch.setattr(time, "strftime", lambda *_: "2026-12-03 09:00 UTC")
    monkeypatch.setattr(os, "getloadavg", lambda: fx.READ_PATH_LOAD[1])
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(bench.report, "cpu_name", lambda: "Test CPU")
    yield


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_section_renders_as_before(name: str) -> None:
    assert SECTIONS[name]() == (EXPECTED / f"{name}.md").read_text()


@pytest.mark.skipif(not (BENCH_OUT / "detection.json").exists(), reason="no stored results")
def test_detection_section_from_the_stored_results_is_the_published_one() -> None:
    """bench/out/detection.json is what the published section was rendered from."""
    from bench import detection
    from bench.report import DOC

    report = json.loads((BENCH_OUT / "detection.json").read_text())
    text = detection.section(report, detection.NOTES.read_text())
    published = DOC.read_text().split(f"## {detection.TITLE}\n\n", 1)[1].split("\n## ", 1)[0]
    assert text.strip() == published.strip()
