"""The report templates: every section a benchmark writes to docs/BENCHMARKS.md is
laid out by a jinja2 template beside its code (`bench/templates/*.md.j2`, or a
package's own `report.md.j2`); the code computes the figures and the tables.

Templates wrap their prose for reading; `{% filter oneline %}` joins a paragraph
back into the one line the published markdown has, so a template can move without
changing a byte of the document.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).resolve().parent / "templates"


def oneline(text: str) -> str:
    """The lines of `text`, stripped and joined by single spaces."""
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def fmt(value: Any, spec: str) -> str:
    """`format(value, spec)`: `{{ n | fmt(",") }}` writes 20,000."""
    return format(value, spec)


def environment(folder: Path = TEMPLATES) -> Environment:
    # jinja2 is imported only to render: the measured child processes import modules
    # that import this one, and their resident set must not grow by it
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(folder), undefined=StrictUndefined, autoescape=False,
        trim_blocks=True, lstrip_blocks=True,
    )  # fmt: skip
    env.filters["oneline"] = oneline
    env.filters["fmt"] = fmt
    return env


def render(template: str, folder: Path = TEMPLATES, **context: Any) -> str:
    """The template rendered with `context`; its file's final newline is dropped."""
    return environment(folder).get_template(template).render(**context)
