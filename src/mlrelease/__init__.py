"""mlrelease: continuous delivery for machine-learning models.

The Python API is :class:`mlrelease.Client`; the errors it raises live in
:mod:`mlrelease.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Client", "ModelRef", "__version__"]

if TYPE_CHECKING:
    from mlrelease.client import Client
    from mlrelease.names import ModelRef


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import mlrelease` (and the CLI's --help) stays light.
    if name == "Client":
        from mlrelease.client import Client

        return Client
    if name == "ModelRef":
        from mlrelease.names import ModelRef

        return ModelRef
    raise AttributeError(f"module 'mlrelease' has no attribute {name!r}")
