"""What the registry hands out: plain, immutable records of models and versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlrelease.names import ModelRef

__all__ = ["ModelInfo", "NewVersion", "VersionInfo", "VersionStatus"]


class VersionStatus:
    READY = "ready"  # registered and usable anywhere
    ARCHIVED = "archived"  # kept for history and rollback, never promoted again


@dataclass(frozen=True)
class ModelInfo:
    name: str
    task: str
    description: str
    created_at: datetime
    latest_version: int | None
    aliases: dict[str, int]


@dataclass(frozen=True)
class VersionInfo:
    model: str
    version: int
    status: str
    flavor: str
    artifact_uri: str
    artifact_sha256: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    signature: dict[str, Any]
    profile: dict[str, Any]
    lineage: dict[str, Any]
    gate_results: list[dict[str, Any]]
    evaluation: dict[str, Any]
    trusted_types: list[str]
    run_id: str | None
    created_at: datetime
    created_by: str
    # {"format", "uri", "sha256"} of a form a server may load instead of the artifact
    # (a plain linear model's numbers, see flavors.linear); {} when there is none.
    serving_form: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.model, version=self.version)

    @property
    def feature_names(self) -> list[str]:
        return [str(item["name"]) for item in self.signature.get("inputs", [])]


@dataclass(frozen=True)
class NewVersion:
    """Everything a version is made of, once its artifact is safely in the store."""

    flavor: str
    artifact_uri: str
    artifact_sha256: str
    signature: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    gate_results: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] = field(default_factory=dict)
    trusted_types: tuple[str, ...] = ()
    run_id: str | None = None
    serving_form: dict[str, Any] = field(default_factory=dict)
