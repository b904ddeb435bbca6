"""Loading a training data source — one line of text — into a DataFrame.

The form of the text decides how it is read; the rules are tried in this order,
so every text has exactly one meaning:

1. ``sklearn:<name>`` — one of scikit-learn's bundled datasets (``load_iris``,
   ``load_breast_cancer``, ...), read with ``as_frame=True``: features under
   scikit-learn's names plus a ``target`` column (``load_linnerud`` keeps its three
   targets, Weight, Waist and Pulse). ``fetch_*`` datasets are refused because they
   download at run time.
2. ``package.module:function`` — dotted identifiers, one colon: a Python loader.
   The module is imported with the project directory first on ``sys.path``; the
   function takes no arguments and returns a DataFrame or a tuple ``(X, y)``.
3. Anything else that does not start with a URL-like scheme (``s3:``, ``https:``)
   is a file path or glob, relative to the project directory unless absolute:
   ``.csv``, ``.parquet`` or ``.pq``. Several matches are concatenated in sorted
   order. A relative path containing a colon must start with ``./``.

Text of any other form is a ConfigError; a source that cannot be read is a DataError.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pandas as pd

from mlrelease.data._files import FILE_SUFFIXES, load_files
from mlrelease.data._python_loader import load_from_function
from mlrelease.data._text import list_names
from mlrelease.errors import ConfigError, DataError

__all__ = ["BUNDLED_DATASETS", "FILE_SUFFIXES", "load_source"]

BUNDLED_DATASETS: Final = (
    "load_breast_cancer",
    "load_diabetes",
    "load_digits",
    "load_iris",
    "load_linnerud",
    "load_wine",
)

_SKLEARN_PREFIX: Final = "sklearn:"
_IDENTIFIERS = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_LOADER: Final = re.compile(rf"{_IDENTIFIERS}:{_IDENTIFIERS}")
# Two or more characters before the colon, so a Windows drive ("C:\data") stays a path.
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")
_DEFAULT_TARGET: Final = "target"

_ACCEPTED_FORMS: Final = (
    "accepted forms: 'sklearn:<name>' for a bundled scikit-learn dataset "
    f"({', '.join(BUNDLED_DATASETS)}); 'package.module:function' for a Python loader; "
    "or a path or glob of .csv/.parquet/.pq files relative to the project directory"
)


def load_source(source: str, *, base_dir: Path, target: str | None = None) -> pd.DataFrame:
    """Read ``source`` (see the module docstring for its forms) into one DataFrame.

    ``base_dir`` is the project directory: relative paths and loader modules are
    looked up there. If ``target`` is given, the frame must have that column; a
    loader's ``(X, y)`` puts ``y`` under that name (``"target"`` when not given).
    """
    text = source.strip()
    root = base_dir.resolve()
    if text.startswith(_SKLEARN_PREFIX):
        frame = _load_bundled(text.removeprefix(_SKLEARN_PREFIX))
    elif _LOADER.fullmatch(text):
        frame = load_from_function(text, root, target_name=target or _DEFAULT_TARGET)
    elif not text or _SCHEME.match(text):
        raise ConfigError(f"cannot read data source {source!r}: {_ACCEPTED_FORMS}")
    else:
        frame = load_files(text, root)

    duplicated = frame.columns[frame.columns.duplicated()].unique()
    if len(duplicated):
        raise DataError(f"data source {source!r} has duplicate columns: {list_names(duplicated)}")
    if target is not None and target not in frame.columns:
        raise DataError(
            f"target column {target!r} not found in data source {source!r}; "
            f"available columns: {list_names(frame.columns)}"
        )
    return frame


def _load_bundled(name: str) -> pd.DataFrame:
    if name.startswith("fetch_"):
        raise ConfigError(
            f"sklearn:{name} downloads its data at run time, which mlrelease does not do; "
            f"use a bundled dataset ({', '.join(BUNDLED_DATASETS)}) or save the data to a "
            "file once and point the source at it"
        )
    if name not in BUNDLED_DATASETS:
        raise ConfigError(
            f"unknown scikit-learn dataset {name!r}; bundled datasets: "
            + ", ".join(BUNDLED_DATASETS)
        )
    # Deferred: scikit-learn takes most of a second to import; only this form needs it.
    from sklearn import datasets

    frame: pd.DataFrame = getattr(datasets, name)(as_frame=True).frame
    return frame
