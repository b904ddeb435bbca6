"""``prometheus.yml``: scrape the servers and load the rules; YAML laid out as Prometheus' own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from mlrelease.deploy.monitoring._options import ALERTS_FILE, PROMETHEUS_FILE, Plan
from mlrelease.deploy.monitoring._promql import duration

__all__ = ["prometheus_text", "prometheus_yaml"]


def prometheus_text(plan: Plan) -> str:
    interval = duration(plan.scrape_interval)
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [ALERTS_FILE],
        "scrape_configs": [
            {
                "job_name": plan.job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [str(target) for target in plan.targets]}],
            }
        ],
    }
    header = (
        "# Prometheus configuration for mlrelease, written by `mlrelease deploy monitoring`.\n"
        f"# Start: prometheus --config.file={PROMETHEUS_FILE} ({ALERTS_FILE} is read from "
        "beside it)\n"
        f"# Check: promtool check config {PROMETHEUS_FILE}\n"
        "# To send the alerts somewhere, add an Alertmanager:\n"
        "#   alerting: {alertmanagers: [{static_configs: [{targets: ['127.0.0.1:9093']}]}]}\n"
    )
    return header + prometheus_yaml(config)


class _IndentedDumper(yaml.SafeDumper):
    """Block lists indented under their key, as Prometheus' own examples are."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def prometheus_yaml(document: Mapping[str, Any]) -> str:
    return yaml.dump(
        document, Dumper=_IndentedDumper, sort_keys=False, width=1000, allow_unicode=True
    )
