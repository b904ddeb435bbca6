"""Content fingerprint of a DataFrame, recorded with every run and model version.

Two frames get the same fingerprint exactly when they have the same column names,
dtypes and cell values in the same order. The index is left out: it is an artefact
of how the data was read, not something a model learns from.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["fingerprint"]


def fingerprint(df: pd.DataFrame) -> str:
    """``"sha256:<hex>"`` over column names, dtypes, row count and every cell.

    Cells are hashed by pandas' vectorised, fixed-key row hash, so the result is
    fast and the same in every process (no PYTHONHASHSEED effect).
    """
    from pandas.util import hash_pandas_object

    digest = hashlib.sha256()
    header = {
        "columns": [[str(name), str(dtype)] for name, dtype in df.dtypes.items()],
        "rows": len(df),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    if len(df.columns):
        row_hashes = hash_pandas_object(df, index=False).to_numpy()
        # Explicit byte order: the same data must give the same text on any machine.
        digest.update(row_hashes.astype("<u8").tobytes())
    return f"sha256:{digest.hexdigest()}"
