"""The control-plane HTTP API: a thin adapter over :class:`mlrelease.client.Client`.

It parses and validates requests (pydantic models at the edge), checks the
caller's token and role, calls the core, and shapes the answer; it holds no
rules of its own. ``create_api(client)`` builds the FastAPI app; `mlrelease
server` runs it, and `mlrelease serve` mounts it at ``/api`` beside the data plane.

Every route needs ``Authorization: Bearer TOKEN``; each declares its minimum role
(viewer < operator < approver < admin), published as ``x-min-role`` in OpenAPI.
"""

from __future__ import annotations

from mlrelease.api.app import API_PREFIX, create_api

__all__ = ["API_PREFIX", "create_api"]
