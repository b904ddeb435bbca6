"""mlrelease: continuous delivery for machine-learning models.

The Python API is :class:`mlrelease.Client`; the errors it raises live in
:mod:`mlrelease.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlrelease._lazy import lazy_attributes

__version__ = "0.1.0"
__all__ = ["Client", "ModelRef", "__version__"]

if TYPE_CHECKING:
    from mlrelease.client import Client
    from mlrelease.names import ModelRef

# Imported on first use, so `import mlrelease` (and the CLI's --help) stays light.
__getattr__ = lazy_attributes(
    __name__, {"Client": "mlrelease.client", "ModelRef": "mlrelease.names"}
)
