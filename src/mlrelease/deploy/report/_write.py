"""Writing a report and its plots: all files appear complete, or none is touched."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from enum import StrEnum
from pathlib import Path

from mlrelease.deploy.report._html import render_html
from mlrelease.deploy.report._markdown import render_markdown
from mlrelease.deploy.report._model import Report
from mlrelease.deploy.report._plots import render_plots
from mlrelease.errors import ConfigError

__all__ = ["ReportFormat", "image_names", "write_report"]


class ReportFormat(StrEnum):
    markdown = "markdown"  # a pull-request comment (GitHub-flavoured)
    html = "html"  # a page to open, archive or publish


def image_names(report: Report, out: Path) -> dict[str, str]:
    """The file name of each plot, by slug: ``STEM-SLUG.png`` beside ``out``."""
    return {plot.slug: f"{out.stem}-{plot.slug}.png" for plot in report.plots}


def write_report(
    report: Report, out: Path, fmt: ReportFormat = ReportFormat.markdown
) -> list[Path]:
    """Render ``report`` and write it to ``out``, its plots beside it; returns the paths.

    Everything is rendered before anything is written; then each file goes to a
    temporary name and, once all are complete, is renamed into place -- the plots
    first, the text that links them last. Out's folder is created when missing.
    """
    if out.is_dir():
        raise ConfigError(f"{out} is a folder; give the report's file name, e.g. {out}/report.md")
    images = image_names(report, out)
    plots = render_plots(report)
    render = render_markdown if fmt is ReportFormat.markdown else render_html
    text = render(report, images)
    files = [(out.parent / images[slug], plots[slug]) for slug in images]
    files.append((out, text.encode("utf-8")))
    return _write_all(files)


def _write_all(files: Sequence[tuple[Path, bytes]]) -> list[Path]:
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            staged.append((_stage(path, data), path))
        for temporary, path in staged:
            os.replace(temporary, path)
    except OSError as exc:
        raise ConfigError(f"cannot write the report: {exc}") from None
    finally:
        for temporary, _ in staged:
            with suppress(FileNotFoundError):
                os.unlink(temporary)
    return [path for _, path in staged]


def _stage(path: Path, data: bytes) -> str:
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # a report is for others to read
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return temporary
