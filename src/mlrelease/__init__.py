"""mlrelease: continuous delivery for machine-learning models."""

from __future__ import annotations

__version__ = "0.1.0"
