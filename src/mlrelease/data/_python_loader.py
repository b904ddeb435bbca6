"""Running a project's own Python loader, ``package.module:function``.

The function takes no arguments and returns a DataFrame, or a tuple ``(X, y)``
of a DataFrame or 2-D ndarray and a Series or 1-D ndarray.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from mlrelease.errors import DataError

__all__ = ["load_from_function"]


def load_from_function(spec: str, root: Path, *, target_name: str) -> pd.DataFrame:
    """Import and call the loader ``spec`` (``package.module:function``) as one frame.

    The module is looked up in ``root`` before ``sys.path``; the ``y`` of an
    ``(X, y)`` result becomes the column ``target_name``.
    """
    module_name, _, attribute_path = spec.partition(":")
    loader: Any = _import_project_module(module_name, root)
    for attribute in attribute_path.split("."):
        try:
            loader = getattr(loader, attribute)
        except AttributeError:
            raise DataError(
                f"loader {spec!r}: module {module_name!r} has no attribute {attribute_path!r}"
            ) from None
    if not callable(loader):
        raise DataError(f"loader {spec!r} is not callable: it is of type {_type_name(loader)}")
    try:
        result = loader()
    except Exception as exc:  # the user's code: any failure means no data
        raise DataError(f"loader {spec!r} raised {type(exc).__name__}: {exc}") from exc
    return _frame_from_result(result, spec, target_name=target_name)


def _import_project_module(module_name: str, root: Path) -> Any:
    """Import ``module_name`` preferring the project directory over ``sys.path``.

    A module already imported in this process is reused, as Python always does.
    """
    sys.path.insert(0, str(root))
    try:
        # The import system caches directory listings; a module written after
        # start-up would otherwise be invisible.
        importlib.invalidate_caches()
        return importlib.import_module(module_name)
    except Exception as exc:  # ImportError, but also whatever the module raises
        raise DataError(
            f"cannot import loader module {module_name!r} (looked in {root}, then sys.path): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        sys.path.remove(str(root))


_EXPECTED_RESULT: Final = (
    "expected a pandas DataFrame, or a tuple (X, y) with X a DataFrame or 2-D ndarray "
    "and y a Series or 1-D ndarray"
)


def _frame_from_result(result: object, spec: str, *, target_name: str) -> pd.DataFrame:
    if isinstance(result, pd.DataFrame):
        return _with_text_column_names(result)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise DataError(f"loader {spec!r} returned {_describe(result)}; {_EXPECTED_RESULT}")
    features, labels = _as_features(result[0]), _as_labels(result[1])
    if features is None or labels is None:
        raise DataError(f"loader {spec!r} returned {_describe(result)}; {_EXPECTED_RESULT}")
    if len(features) != len(labels):
        raise DataError(
            f"loader {spec!r} returned X with {len(features)} rows but y with {len(labels)}"
        )
    if target_name in features.columns:
        raise DataError(
            f"loader {spec!r} returned X that already has a column {target_name!r}, "
            "the name y would be stored under"
        )
    frame = features.copy()
    # By position: y belongs to X row for row, whatever index either carries.
    frame[target_name] = labels.set_axis(frame.index)
    return frame


def _as_features(value: object) -> pd.DataFrame | None:
    if isinstance(value, pd.DataFrame):
        return _with_text_column_names(value)
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return pd.DataFrame(value, columns=[f"x{i}" for i in range(value.shape[1])])
    return None


def _as_labels(value: object) -> pd.Series | None:
    if isinstance(value, pd.Series):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return pd.Series(value)
    return None


def _with_text_column_names(frame: pd.DataFrame) -> pd.DataFrame:
    # scikit-learn refuses feature names that are not all strings.
    if all(isinstance(name, str) for name in frame.columns):
        return frame
    return frame.rename(columns=str)


def _describe(value: object) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} ({', '.join(_type_name(item) for item in value)})"
    return "None" if value is None else f"an object of type {_type_name(value)}"


def _type_name(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.ndim}-D ndarray"
    return type(value).__name__
