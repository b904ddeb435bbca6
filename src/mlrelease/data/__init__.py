"""Data: sources, checks, fingerprint, schema, split and reference profile."""

from __future__ import annotations

from mlrelease.data.checks import CheckResult, SchemaPolicy, raise_for_failed, run_checks
from mlrelease.data.fingerprint import fingerprint
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
