"""Commands about the metadata database: db upgrade."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from mlrelease.cli._common import DEFAULT_FILE, ProjectFile, console
from mlrelease.settings import resolve_settings
from mlrelease.spec import load_spec
from mlrelease.store import Store

__all__ = ["app"]

app = typer.Typer(help="Manage the metadata database (schema migrations).", no_args_is_help=True)


@app.command()
def upgrade(project_file: ProjectFile = DEFAULT_FILE) -> None:
    """Migrate the metadata database to this mlrelease's schema (creates it if new).

    The database is MLRELEASE_DB, else the project file's store.metadata, else
    sqlite:///.mlrelease/mlrelease.db beside the project file. Back it up first.
    """
    if project_file.exists():
        loaded = load_spec(project_file)
        settings = resolve_settings(loaded.spec, base_dir=loaded.project_dir, env=os.environ)
    else:
        settings = resolve_settings(None, base_dir=Path.cwd(), env=os.environ)
    store = Store.connect(settings.db_url, base_dir=settings.base_dir)
    try:
        before, after = store.upgrade()
    finally:
        store.close()
    if before == after:
        console.print(f"{store.url_for_display}: already at revision {after}")
    else:
        console.print(f"{store.url_for_display}: upgraded {before or '(empty)'} -> {after}")
