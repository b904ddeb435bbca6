"""Alembic migrations of the metadata schema, run only when asked (`mlrelease db upgrade`).

``HEAD_REVISION`` names the newest revision; a test checks it matches the
newest script here, so a new migration must update it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection

__all__ = ["HEAD_REVISION", "upgrade_to_head"]

HEAD_REVISION = "0001"
SCRIPT_LOCATION = Path(__file__).parent


def alembic_config(connection: Connection | None = None) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(connection: Connection) -> None:
    """Run every migration the database has not had, each in its own transaction."""
    from alembic import command
    from alembic.config import Config

    config = alembic_config(connection)
    assert isinstance(config, Config)
    command.upgrade(config, "head")
    connection.commit()
