"""Alembic migrations of the metadata schema, run only when asked (`mlrelease db upgrade`).

``HEAD_REVISION`` names the newest revision; a test checks it matches the
newest script here, so a new migration must update it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "upgrade_to_head"]

HEAD_REVISION = "0006"
SCRIPT_LOCATION = Path(__file__).parent


def alembic_config(connection: Connection | None = None) -> Config:
    # Alembic is imported only here: opening a store at head never needs it.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(connection: Connection) -> None:
    """Run every migration the database has not had, each in its own transaction."""
    from alembic import command

    command.upgrade(alembic_config(connection), "head")
    connection.commit()
