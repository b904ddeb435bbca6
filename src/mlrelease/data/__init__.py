"""Data: sources, checks, fingerprint, schema, split and reference profile.

Its modules are imported on first use: a model server needs only ``data.kinds``,
and the others load pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlrelease._lazy import lazy_attributes

# Not lazy: the function has its module's name, which importing the module would
# bind on this package in its place.
from mlrelease.data.fingerprint import fingerprint

if TYPE_CHECKING:
    from mlrelease.data.checks import CheckResult, SchemaPolicy, raise_for_failed, run_checks
    from mlrelease.data.profile import bin_fractions, build_profile
    from mlrelease.data.schema import SchemaDiff, diff_schemas, kind_of, schema_of
    from mlrelease.data.sources import load_source
    from mlrelease.data.split import Split, split_frame

__all__ = [
    "CheckResult",
    "SchemaDiff",
    "SchemaPolicy",
    "Split",
    "bin_fractions",
    "build_profile",
    "diff_schemas",
    "fingerprint",
    "kind_of",
    "load_source",
    "raise_for_failed",
    "run_checks",
    "schema_of",
    "split_frame",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "CheckResult": "mlrelease.data.checks",
        "SchemaPolicy": "mlrelease.data.checks",
        "raise_for_failed": "mlrelease.data.checks",
        "run_checks": "mlrelease.data.checks",
        "bin_fractions": "mlrelease.data.profile",
        "build_profile": "mlrelease.data.profile",
        "SchemaDiff": "mlrelease.data.schema",
        "diff_schemas": "mlrelease.data.schema",
        "kind_of": "mlrelease.data.schema",
        "schema_of": "mlrelease.data.schema",
        "load_source": "mlrelease.data.sources",
        "Split": "mlrelease.data.split",
        "split_frame": "mlrelease.data.split",
    },
)
