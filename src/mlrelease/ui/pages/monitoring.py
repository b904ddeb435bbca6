"""(filled in by its page work)"""

from __future__ import annotations

from mlrelease.ui.routing import Pages

__all__ = ["pages"]

pages = Pages()
