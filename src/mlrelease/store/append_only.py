"""Database triggers that make the audit log append-only below the application too.

mlrelease never updates or deletes an event; these triggers make the database
refuse it from any other client as well (an SQL shell, another program).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

__all__ = ["install_append_only_triggers"]

_MESSAGE = "events are append-only: mlrelease never edits or deletes the history"

_DDL: dict[str, tuple[str, ...]] = {
    "sqlite": tuple(
        f"CREATE TRIGGER IF NOT EXISTS events_no_{action.lower()} BEFORE {action} ON events "
        f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        for action in ("UPDATE", "DELETE")
    ),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION mlrelease_events_append_only() RETURNS trigger AS $$ "
        f"BEGIN RAISE EXCEPTION '{_MESSAGE}'; END; $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS events_append_only ON events",
        "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
        "FOR EACH ROW EXECUTE FUNCTION mlrelease_events_append_only()",
    ),
}


def install_append_only_triggers(connection: Connection) -> None:
    """Create the triggers on ``events`` for this connection's dialect (others: none)."""
    for statement in _DDL.get(connection.dialect.name, ()):
        connection.execute(text(statement))
