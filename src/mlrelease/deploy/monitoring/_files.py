"""The three files: rendered as text from the options, and written into a folder."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from mlrelease.deploy._files import file_outcome, replace_all
from mlrelease.deploy.monitoring._alerts import alerts_text
from mlrelease.deploy.monitoring._dashboard import dashboard
from mlrelease.deploy.monitoring._options import (
    ALERTS_FILE,
    DASHBOARD_FILE,
    PROMETHEUS_FILE,
    MonitoringOptions,
    make_plan,
)
from mlrelease.deploy.monitoring._scrape import prometheus_text
from mlrelease.errors import ConfigError, ConflictError
from mlrelease.spec import ProjectSpec

__all__ = ["render_monitoring", "write_monitoring"]


def render_monitoring(
    options: MonitoringOptions, project: ProjectSpec | None = None
) -> dict[str, str]:
    """File name -> text of the dashboard, the alerting rules and the Prometheus config."""
    plan = make_plan(options, project)
    return {
        DASHBOARD_FILE: json.dumps(dashboard(plan), indent=2, sort_keys=True) + "\n",
        ALERTS_FILE: alerts_text(plan),
        PROMETHEUS_FILE: prometheus_text(plan),
    }


def write_monitoring(
    directory: Path, files: Mapping[str, str], *, overwrite: bool = False
) -> dict[Path, str]:
    """Write ``files`` into ``directory``; what happened to each: wrote, replaced, unchanged.

    Nothing is written when a file there differs and ``overwrite`` is off. Each new
    text goes to a temporary file beside its target first; only when all are
    written do they replace the targets, so a failure leaves the old files whole.
    """
    if directory.exists() and not directory.is_dir():
        raise ConfigError(
            f"--out: {directory} is a file, not a directory; give a directory "
            "(created if missing), e.g. --out monitoring"
        )
    outcome = {
        directory / name: file_outcome(directory / name, text) for name, text in files.items()
    }
    changed = [path for path, what in outcome.items() if what == "replaced"]
    if changed and not overwrite:
        raise ConflictError(
            f"{changed[0]} exists and differs from what would be written; pass --force to "
            "replace it (edits made to it by hand are lost), or choose another --out"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create {directory} ({exc.strerror or exc})") from None
    pending = {directory / name: text for name, text in files.items()}
    replace_all({path: text for path, text in pending.items() if outcome[path] != "unchanged"})
    return outcome
