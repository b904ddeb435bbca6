"""Jinja2 templates of the UI, with escaping always on, and the filters the pages share."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from mlrelease import __version__

__all__ = ["Renderer", "fmt_number", "fmt_time", "segment"]


class Renderer:
    """Renders ``templates/NAME`` with the context a page gives."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("mlrelease.ui", "templates"),
            # Every template is HTML: escape everything that is not marked safe.
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(num=fmt_number, time=fmt_time, seg=segment, ago=fmt_ago)
        self.env.globals.update(mlrelease_version=__version__, svg=_trusted_svg)

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)


def fmt_number(value: Any, digits: int = 4) -> str:
    """A metric for a table: 4 significant digits, integers as they are, '-' for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}"


def fmt_time(value: datetime | str | None) -> str:
    """UTC to the second, as the CLI prints it."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "-"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{max(seconds, 0)} s ago"


def segment(value: Any) -> str:
    """One URL path segment, percent-encoded."""
    return quote(str(value), safe="")


def _trusted_svg(markup: str) -> Markup:
    """SVG built by mlrelease's own chart code, which escapes every text it places."""
    return Markup(markup)
