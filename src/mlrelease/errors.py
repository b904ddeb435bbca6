"""Every error mlrelease raises on purpose, in one tree.

Each class carries the HTTP status the API answers with and the exit code the CLI
ends with, so the two adapters translate errors in exactly one place each. A
message says what happened and how to fix it.

    MlreleaseError                      500 / exit 1
    ├── SpecError                       422 / exit 2   project file invalid (names the key path)
    │   └── MissingVariableError        422 / exit 2   ${VAR} not set in the environment
    ├── ConfigError                     422 / exit 2   settings / store URL / option unusable
    ├── NotFoundError                   404 / exit 4
    │   ├── ModelNotFoundError
    │   ├── VersionNotFoundError
    │   ├── AliasNotFoundError
    │   └── RunNotFoundError
    ├── ConflictError                   409 / exit 5   state does not allow the change
    │   └── PromotionRefused            409 / exit 5   a promotion rule is not met (names it)
    ├── DataError                       422 / exit 1   data cannot be loaded or used
    │   └── DataCheckFailed             422 / exit 1   a data check refused the data
    ├── TrainingError                   422 / exit 1   the trainer failed
    ├── GateExpressionError             422 / exit 2   a gate cannot be parsed
    ├── GateFailed                      422 / exit 1   a quality gate did not hold
    ├── ArtifactError                   500 / exit 1
    │   ├── IntegrityError              500 / exit 1   sha256 mismatch: artifact refused
    │   ├── UnsafePathError             400 / exit 2   a name would escape its root
    │   └── UntrustedArtifactError      422 / exit 1   skops found types not trusted
    ├── StoreError                      503 / exit 1   metadata store unreachable / not migrated
    ├── NotificationError               502 / exit 1   a notification channel refused or failed
    ├── Forbidden                       403 / exit 3   the actor's role is too low for the action
    └── RequestError                    422 / exit 2   a data-plane request cannot be served as sent
        ├── MalformedRequest            400            not JSON, or not the expected shape at all
        ├── PayloadTooLarge             413            body or batch over the configured limit
        ├── Unauthorized                401 / exit 3   a token is required and missing or wrong
        ├── RateLimited                 429            too many requests; ``details['retry_after']``
        ├── ModelUnavailable            503            the model is not loaded (yet)
        └── ModelFailed                 500            the model raised on a valid request
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AliasNotFoundError",
    "ArtifactError",
    "ConfigError",
    "ConflictError",
    "DataCheckFailed",
    "DataError",
    "GateExpressionError",
    "GateFailed",
    "IntegrityError",
    "MissingVariableError",
    "MlreleaseError",
    "ModelNotFoundError",
    "MalformedRequest",
    "ModelFailed",
    "ModelUnavailable",
    "NotificationError",
    "Forbidden",
    "PromotionRefused",
    "NotFoundError",
    "PayloadTooLarge",
    "RateLimited",
    "RequestError",
    "RunNotFoundError",
    "SpecError",
    "StoreError",
    "TrainingError",
    "Unauthorized",
    "UnsafePathError",
    "UntrustedArtifactError",
    "VersionNotFoundError",
]


class MlreleaseError(Exception):
    """Root of every error mlrelease raises on purpose."""

    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1
    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The one JSON error shape: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class SpecError(MlreleaseError):
    """The project file is invalid; the message starts with the key's path."""

    http_status = 422
    exit_code = 2
    code = "invalid_spec"


class MissingVariableError(SpecError):
    """A ``${VAR}`` in the project file is not set in the environment."""

    code = "missing_variable"


class ConfigError(MlreleaseError):
    """A setting or option cannot be used as given."""

    http_status = 422
    exit_code = 2
    code = "invalid_config"


class NotFoundError(MlreleaseError):
    http_status = 404
    exit_code = 4
    code = "not_found"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class VersionNotFoundError(NotFoundError):
    code = "version_not_found"


class AliasNotFoundError(NotFoundError):
    code = "alias_not_found"


class RunNotFoundError(NotFoundError):
    code = "run_not_found"


class ConflictError(MlreleaseError):
    """The current state does not allow the requested change."""

    http_status = 409
    exit_code = 5
    code = "conflict"


class PromotionRefused(ConflictError):
    """A promotion rule is not met: the message names the rule and how to satisfy it."""

    code = "promotion_refused"


class DataError(MlreleaseError):
    """Data cannot be loaded or does not have the expected shape."""

    http_status = 422
    code = "data_error"


class DataCheckFailed(DataError):
    """One or more data checks refused the data; ``details['checks']`` lists them."""

    code = "data_check_failed"


class TrainingError(MlreleaseError):
    """The estimator or the user's training function failed."""

    http_status = 422
    code = "training_failed"


class GateExpressionError(MlreleaseError):
    """A gate expression cannot be parsed or names something unknown."""

    http_status = 422
    exit_code = 2
    code = "invalid_gate"


class GateFailed(MlreleaseError):
    """At least one quality gate did not hold; ``details['gates']`` has every result."""

    http_status = 422
    code = "gate_failed"


class ArtifactError(MlreleaseError):
    code = "artifact_error"


class IntegrityError(ArtifactError):
    """An artifact's bytes do not match the sha256 recorded for it."""

    code = "artifact_integrity"


class UnsafePathError(ArtifactError):
    """A user-supplied name or path would leave the directory it must stay in."""

    http_status = 400
    exit_code = 2
    code = "unsafe_path"


class UntrustedArtifactError(ArtifactError):
    """A skops file holds types that are not trusted; nothing was loaded."""

    http_status = 422
    code = "untrusted_artifact"


class StoreError(MlreleaseError):
    """The metadata store cannot be reached or is at the wrong schema revision."""

    http_status = 503
    code = "store_unavailable"


class NotificationError(MlreleaseError):
    """A notification channel could not be reached or refused the message."""

    http_status = 502
    code = "notification_failed"


class Forbidden(MlreleaseError):
    """The actor is known but their role does not allow the action."""

    http_status = 403
    exit_code = 3
    code = "forbidden"


class RequestError(MlreleaseError):
    """A prediction request does not match what the model takes; names the field and row."""

    http_status = 422
    exit_code = 2
    code = "invalid_request"


class MalformedRequest(RequestError):
    http_status = 400
    code = "malformed_request"


class PayloadTooLarge(RequestError):
    http_status = 413
    code = "payload_too_large"


class Unauthorized(RequestError):
    http_status = 401
    exit_code = 3
    code = "unauthorized"


class RateLimited(RequestError):
    http_status = 429
    code = "rate_limited"


class ModelUnavailable(RequestError):
    http_status = 503
    exit_code = 1
    code = "model_unavailable"


class ModelFailed(RequestError):
    """The request matched the signature, and the model still raised on it.

    A server-side failure (500): it counts in a release's error rate, so a canary
    that crashes where the stable version answers is caught.
    """

    http_status = 500
    exit_code = 1
    code = "model_failed"
