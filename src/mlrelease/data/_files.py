"""Reading .csv and .parquet files named by a path or a glob.

Several matches are read in sorted order and concatenated; they must all have
the same columns.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Final

import pandas as pd

from mlrelease.data._text import list_names
from mlrelease.errors import ConfigError, DataError

__all__ = ["FILE_SUFFIXES", "load_files"]


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401 - an optional extra; say so before pandas does
    except ImportError:
        raise ConfigError(
            f"cannot read {path}: Parquet needs pyarrow: pip install 'mlrelease[parquet]'"
        ) from None
    return pd.read_parquet(path)


_READERS: Final[Mapping[str, Callable[[Path], pd.DataFrame]]] = {
    ".csv": _read_csv,
    ".parquet": _read_parquet,
    ".pq": _read_parquet,
}
FILE_SUFFIXES: Final = tuple(_READERS)


def load_files(pattern: str, root: Path) -> pd.DataFrame:
    """Read every file matching ``pattern`` (relative to ``root`` unless absolute)."""
    suffix = PurePath(pattern).suffix.lower()
    if suffix and suffix not in _READERS and not any(char in suffix for char in "*?["):
        raise ConfigError(
            f"cannot read {pattern!r}: unsupported file type {suffix!r} "
            f"(supported: {', '.join(FILE_SUFFIXES)})"
        )
    paths = _matching_files(pattern, root)
    return _concatenate([_read_file(path) for path in paths], paths)


def _matching_files(pattern: str, root: Path) -> list[Path]:
    # root_dir rather than joining: the project path may itself contain "[" or "*".
    matches = glob.glob(pattern, root_dir=root, recursive=True)
    paths = sorted(path for path in (root / match for match in matches) if path.is_file())
    if not paths:
        searched = Path(pattern).parent if Path(pattern).is_absolute() else root
        raise DataError(f"no file matches {pattern!r} (searched in {searched})")
    return paths


def _read_file(path: Path) -> pd.DataFrame:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"cannot read {path}: unsupported file type {path.suffix!r} "
            f"(supported: {', '.join(FILE_SUFFIXES)})"
        )
    try:
        return reader(path)
    except (OSError, ValueError) as exc:  # parser errors are ValueErrors in pandas and pyarrow
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"cannot read {path}: {reason}") from exc


def _concatenate(frames: Sequence[pd.DataFrame], paths: Sequence[Path]) -> pd.DataFrame:
    first, *rest = frames
    if not rest:
        return first
    columns = list(first.columns)
    for frame, path in zip(rest, paths[1:], strict=True):
        if set(frame.columns) != set(columns):
            missing = [name for name in columns if name not in frame.columns]
            extra = [name for name in frame.columns if name not in columns]
            raise DataError(
                f"{path} does not have the same columns as {paths[0]}: "
                f"missing {list_names(missing)}; extra {list_names(extra)}"
            )
    # Same columns in another order are harmless: align every file to the first.
    return pd.concat([frame[columns] for frame in frames], ignore_index=True)
