"""`mlrelease deploy monitoring`: a Grafana dashboard, alerting rules and a Prometheus config."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml

from mlrelease.cli._common import DEFAULT_FILE, ProjectFile
from mlrelease.errors import ConfigError

if TYPE_CHECKING:
    from mlrelease.deploy.monitoring import MonitoringOptions
    from mlrelease.spec import ProjectSpec

__all__ = ["register"]

DEFAULT_OUT = Path("monitoring")


def monitoring(
    out: Annotated[
        Path, typer.Option(help="Directory for the three files (created if missing).")
    ] = DEFAULT_OUT,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model the dashboard opens on and the alerts cover (default: the project "
            "file's model; without a project file, every model).",
        ),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            "-e",
            help="Environment the alerts cover (default: every one; drift and live metrics: "
            "the project's monitored one).",
        ),
    ] = None,
    datasource: Annotated[
        str, typer.Option(help="Name of the Grafana data source (Prometheus) picked by default.")
    ] = "Prometheus",
    job: Annotated[str, typer.Option(help="Prometheus job name of the servers.")] = "mlrelease",
    targets: Annotated[
        list[str] | None,
        typer.Option(
            "--targets",
            metavar="HOST:PORT",
            help="HOST:PORT of an `mlrelease serve` to scrape; repeat the option or separate "
            "with commas (default: 127.0.0.1:8000).",
        ),
    ] = None,
    scrape_interval: Annotated[
        str, typer.Option(help="How often Prometheus scrapes and evaluates the rules: 15s, 1m.")
    ] = "15s",
    max_error_rate: Annotated[
        float | None,
        typer.Option(
            help="5xx share of requests that alerts (default: the project's canary check "
            "'error_rate <= X', else 0.01).",
        ),
    ] = None,
    max_latency_p95: Annotated[
        float | None,
        typer.Option(
            help="p95 latency in seconds that alerts (default: the project's canary check "
            "'latency_p95 <= X', else 0.5).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace files that differ from what is written.")
    ] = False,
    project_file: ProjectFile = DEFAULT_FILE,
) -> None:
    """Write a Grafana dashboard, Prometheus alerting rules and a scrape config for the servers.

    Writes DIR/grafana-dashboard.json (traffic, errors, latency, canary vs stable,
    batching, loaded versions, swaps, prediction log, drift, live metrics),
    DIR/alerts.yml (error rate, p95 latency, servers down, load failures, lost log
    rows, drift, and the live-metric floors of the project file's monitoring
    section) and DIR/prometheus.yml, which scrapes the servers and loads the rules:
    `prometheus --config.file=DIR/prometheus.yml` runs as is. The same inputs give
    the same bytes, so the files diff cleanly in git.
    """
    from mlrelease.deploy.monitoring import render_monitoring, write_monitoring

    project = _project(project_file)
    options = _options(
        model, env, datasource, job, targets, scrape_interval, max_error_rate, max_latency_p95
    )
    if project is not None and options.model in (None, project.model):
        _check_environment(env, project, project_file)
    files = render_monitoring(options, project)
    outcome = write_monitoring(out, files, overwrite=force)
    _print_next_steps(out, outcome, files)


def register(app: typer.Typer) -> None:
    app.command("monitoring")(monitoring)


def _options(
    model: str | None,
    env: str | None,
    datasource: str,
    job: str,
    targets: list[str] | None,
    scrape_interval: str,
    max_error_rate: float | None,
    max_latency_p95: float | None,
) -> MonitoringOptions:
    from mlrelease.deploy.monitoring import DEFAULT_TARGET, MonitoringOptions
    from mlrelease.spec import parse_duration

    try:
        interval = parse_duration(scrape_interval)
    except ValueError as exc:
        raise ConfigError(f"--scrape-interval: {exc}") from None
    split = [part.strip() for text in targets or [] for part in text.split(",") if part.strip()]
    return MonitoringOptions(
        model=model,
        environment=env,
        datasource=datasource,
        job=job,
        targets=tuple(split or [DEFAULT_TARGET]),
        scrape_interval=interval,
        max_error_rate=max_error_rate,
        max_latency_p95=max_latency_p95,
    )


def _project(project_file: Path) -> ProjectSpec | None:
    from mlrelease.spec import load_spec

    return load_spec(project_file).spec if project_file.exists() else None


def _check_environment(env: str | None, project: ProjectSpec, project_file: Path) -> None:
    if env is not None and env not in project.environments:
        raise ConfigError(
            f"--env: no environment named '{env}' in {project_file}; "
            f"defined: {', '.join(project.environments)}"
        )


def _print_next_steps(out: Path, outcome: dict[Path, str], files: dict[str, str]) -> None:
    from mlrelease.deploy.monitoring import ALERTS_FILE, DASHBOARD_FILE, PROMETHEUS_FILE

    for what in ("wrote", "replaced", "unchanged"):
        paths = [str(path) for path, done in outcome.items() if done == what]
        if paths:
            typer.echo(f"{what} {', '.join(paths)}")
    rules = [
        rule["alert"]
        for group in yaml.safe_load(files[ALERTS_FILE])["groups"]
        for rule in group["rules"]
    ]
    config, dashboard = (
        shlex.quote(str(out / PROMETHEUS_FILE)),
        shlex.quote(str(out / DASHBOARD_FILE)),
    )
    typer.echo(f"\nalerting rules ({len(rules)}): {', '.join(rules)}")
    if not any(rule.startswith("MlreleaseLive") for rule in rules):
        typer.echo(
            "no live-metric rule: no floor is known; run this beside a project file whose "
            "monitoring section sets one (accuracy: {min: 0.85})"
        )
    typer.echo(f"\ncheck the config and the rules:\n  promtool check config {config}")
    typer.echo(f"\nstart Prometheus with them (it reads {ALERTS_FILE} from beside the config):")
    typer.echo(f"  prometheus --config.file={config}")
    typer.echo(
        "or, in a Prometheus that runs already, add the scrape job to its scrape_configs and "
        f"{ALERTS_FILE} to its rule_files,\nthen reload it (kill -HUP PID, or "
        "curl -X POST http://127.0.0.1:9090/-/reload with --web.enable-lifecycle)"
    )
    typer.echo(
        "\nimport the dashboard in Grafana (Dashboards > New > Import > Upload dashboard JSON "
        "file), or with its API:"
    )
    typer.echo(
        f"  jq '{{dashboard: ., overwrite: true}}' {dashboard} | curl -sS -X POST "
        "-H 'Content-Type: application/json' -H \"Authorization: Bearer $GRAFANA_TOKEN\" "
        "--data-binary @- http://127.0.0.1:3000/api/dashboards/db"
    )
    typer.echo("then pick the Prometheus data source in its 'Data source' variable.")
