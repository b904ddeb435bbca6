"""Reading stored monitor reports back: the newest one, and the newest few for charts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlrelease.monitoring.reports import latest_report, recent_reports
from mlrelease.store import Store, tables


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield opened
    finally:
        opened.close()


def _save(store: Store, model: str, environment: str, rows: int) -> None:
    with store.write() as connection:
        connection.execute(
            tables.monitor_reports.insert().values(
                model=model,
                environment=environment,
                version=1,
                created_at=datetime.now(UTC),
                rows=rows,
                drift_share=None,
                drifted=False,
                report={"model": model, "environment": environment, "rows": rows},
            )
        )


def test_recent_reports_are_the_newest_of_one_model_and_environment(store: Store) -> None:
    for rows in range(5):
        _save(store, "churn", "production", rows)
    _save(store, "churn", "staging", 99)
    _save(store, "other", "production", 98)

    recent = recent_reports(store, "churn", "production", limit=3)

    assert [report["rows"] for report in recent] == [4, 3, 2]
    assert recent[0] == latest_report(store, "churn", "production")
    assert all(isinstance(report["id"], int) for report in recent)


def test_no_reports_is_an_empty_list(store: Store) -> None:
    assert recent_reports(store, "churn", "production") == []
