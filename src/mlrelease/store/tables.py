"""The metadata schema: SQLAlchemy 2 typed table mappings.

This module is the current shape of the database; the Alembic migrations under
``migrations/versions`` are how an existing database reaches it, and a test
checks that the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (SQLite has none) and always returns aware datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    task: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class VersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_versions_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    version: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    flavor: Mapped[str] = mapped_column(String(32))
    artifact_uri: Mapped[str] = mapped_column(Text)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    signature: Mapped[dict[str, Any]]
    profile: Mapped[dict[str, Any]]
    lineage: Mapped[dict[str, Any]]
    gate_results: Mapped[list[Any]]
    evaluation: Mapped[dict[str, Any]]
    # Types the flavor reported when this process saved the artifact: trusted on load
    # only because the artifact's sha256 is verified first.
    trusted_types: Mapped[list[Any]]
    # {"format", "uri", "sha256"} of a plain linear model's numbers, which a server loads
    # without scikit-learn (see registry.flavors.linear); {} for every other model.
    serving_form: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'"))
    run_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("runs.id"))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))


class AliasRow(Base):
    __tablename__ = "aliases"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    environment: Mapped[str] = mapped_column(String(128), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(128))


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(128), index=True)
    project_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    cache_key: Mapped[str] = mapped_column(String(80), index=True)
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    steps: Mapped[list[Any]]
    checks: Mapped[list[Any]]
    gate_results: Mapped[list[Any]]
    data_fingerprint: Mapped[str] = mapped_column(String(80))
    data_schema: Mapped[dict[str, Any]]
    lineage: Mapped[dict[str, Any]]
    model_version: Mapped[int | None]
    error: Mapped[str] = mapped_column(Text, default="")


class RunMetricRow(Base):
    __tablename__ = "run_metrics"
    __table_args__ = (Index("ix_run_metrics_run_key", "run_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey("runs.id"))
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[float] = mapped_column(Float)
    step: Mapped[int] = mapped_column(Integer, default=0)
    timestamp: Mapped[datetime]


class RunLogRow(Base):
    __tablename__ = "run_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey("runs.id"), index=True)
    timestamp: Mapped[datetime]
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)


class EventRow(Base):
    """The append-only audit log: nothing in mlrelease updates or deletes these rows."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_model_env", "model", "environment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    timestamp: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    environment: Mapped[str | None] = mapped_column(String(128))
    from_version: Mapped[int | None]
    to_version: Mapped[int | None]
    reason: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]]


class PromotionRow(Base):
    """A request to put one version of a model into an environment, and its outcome."""

    __tablename__ = "promotions"
    __table_args__ = (Index("ix_promotions_model_env_status", "model_id", "environment", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version: Mapped[int]
    environment: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    approvals_required: Mapped[int]
    allow_self_approval: Mapped[bool]
    from_version: Mapped[int | None]  # what the environment ran when it was asked
    gate_results: Mapped[list[Any]]
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class DecisionRow(Base):
    """One person's approval or rejection of a promotion request."""

    __tablename__ = "promotion_decisions"
    __table_args__ = (
        UniqueConstraint("promotion_id", "actor", name="uq_promotion_decisions_actor"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    promotion_id: Mapped[int] = mapped_column(ForeignKey("promotions.id"), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))  # approve | reject
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class TokenRow(Base):
    """An API token: only the sha256 of the secret is kept."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell tokens apart
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None]


class OutboxRow(Base):
    """One notification to deliver to one channel; written with the event it announces."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    channel: Mapped[str] = mapped_column(String(128))
    message: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]  # a deliverer holds the row until then
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class ReleaseRow(Base):
    """A progressive release of ``candidate`` into an environment that runs ``stable``."""

    __tablename__ = "releases"
    __table_args__ = (Index("ix_releases_phase", "phase"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    environment: Mapped[str] = mapped_column(String(128))
    strategy: Mapped[str] = mapped_column(String(16))  # canary | shadow
    spec: Mapped[dict[str, Any]]  # the strategy as it was when the release started
    stable_version: Mapped[int]
    candidate_version: Mapped[int]
    promotion_id: Mapped[int | None] = mapped_column(ForeignKey("promotions.id"))
    phase: Mapped[str] = mapped_column(String(16))
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    step_started_at: Mapped[datetime]
    weight: Mapped[int] = mapped_column(Integer, default=0)  # percent to the candidate now
    analysis_runs: Mapped[int] = mapped_column(Integer, default=0)  # in the current step
    failures: Mapped[int] = mapped_column(Integer, default=0)
    measurements: Mapped[list[Any]]
    reason: Mapped[str] = mapped_column(Text, default="")  # why it paused, aborted, ...
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


# Core tables, for the lean queries of the hot paths (one compiled statement, no ORM).
class TrafficRow(Base):
    """How an environment's requests are split beyond its alias (the stable version)."""

    __tablename__ = "traffic"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    environment: Mapped[str] = mapped_column(String(128), primary_key=True)
    canary_version: Mapped[int | None]
    canary_weight: Mapped[int] = mapped_column(Integer, default=0)  # percent of requests
    shadow_version: Mapped[int | None]
    shadow_share: Mapped[int] = mapped_column(Integer, default=0)  # percent mirrored
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(128))


class PredictionRow(Base):
    """One served row: what came in, what went out, who answered, how fast."""

    __tablename__ = "predictions"
    __table_args__ = (
        Index("ix_predictions_model_env_id", "model", "environment", "id"),
        # Release analysis and monitoring read a version's rows of one time window.
        Index("ix_predictions_window", "model", "environment", "version", "timestamp"),
        Index("ix_predictions_request", "request_id", "row"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(128))
    row: Mapped[int] = mapped_column(Integer, default=0)
    timestamp: Mapped[datetime]
    model: Mapped[str] = mapped_column(String(128))
    environment: Mapped[str] = mapped_column(String(128))
    version: Mapped[int]
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[int]
    latency_ms: Mapped[float] = mapped_column(Float)
    inputs: Mapped[dict[str, Any]]
    outputs: Mapped[dict[str, Any]]


class FeedbackRow(Base):
    """A ground-truth label for one served row, joined to predictions by request id."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("request_id", "row", name="uq_feedback_request_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(128))
    row: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[dict[str, Any]]  # {"value": ...}: JSON keeps the label's own type
    timestamp: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))


class MonitorReportRow(Base):
    """One check of a window of the prediction log against the served version's profile."""

    __tablename__ = "monitor_reports"
    __table_args__ = (Index("ix_monitor_reports_model_env", "model", "environment", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128))
    environment: Mapped[str] = mapped_column(String(128))
    version: Mapped[int]
    created_at: Mapped[datetime]
    rows: Mapped[int]  # rows of the log in the window
    drift_share: Mapped[float | None] = mapped_column(Float)
    drifted: Mapped[bool]
    report: Mapped[dict[str, Any]]  # features, predictions and live metrics, as JSON


class TriggerStateRow(Base):
    """Where one monitoring condition or retrain trigger stands (Prometheus-style ``for``)."""

    __tablename__ = "trigger_states"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    environment: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # inactive | pending | firing
    since: Mapped[datetime | None]  # when the condition began to hold, this time
    fired_at: Mapped[datetime | None]  # when it last fired
    checked_at: Mapped[datetime]
    evidence: Mapped[dict[str, Any]]


class LabelledRowRow(Base):
    """A labelled row from a stream source, kept once per source and key."""

    __tablename__ = "labelled_rows"
    __table_args__ = (UniqueConstraint("model", "source", "key", name="uq_labelled_rows_model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(256))
    record: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


models = cast(Table, ModelRow.__table__)
versions = cast(Table, VersionRow.__table__)
aliases = cast(Table, AliasRow.__table__)
runs = cast(Table, RunRow.__table__)
run_metrics = cast(Table, RunMetricRow.__table__)
run_logs = cast(Table, RunLogRow.__table__)
events = cast(Table, EventRow.__table__)
traffic = cast(Table, TrafficRow.__table__)
predictions = cast(Table, PredictionRow.__table__)
feedback = cast(Table, FeedbackRow.__table__)
promotions = cast(Table, PromotionRow.__table__)
decisions = cast(Table, DecisionRow.__table__)
tokens = cast(Table, TokenRow.__table__)
outbox = cast(Table, OutboxRow.__table__)
releases = cast(Table, ReleaseRow.__table__)
monitor_reports = cast(Table, MonitorReportRow.__table__)
trigger_states = cast(Table, TriggerStateRow.__table__)
labelled_rows = cast(Table, LabelledRowRow.__table__)
