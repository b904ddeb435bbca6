"""Writing rendered files all or nothing: each to a temporary file, then all swapped in."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from mlrelease.errors import ConfigError

__all__ = ["file_outcome", "replace_all"]


def file_outcome(path: Path, text: str) -> str:
    """What writing ``text`` to ``path`` would do: wrote, replaced or unchanged."""
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; remove it or choose another --out")
    try:
        return "unchanged" if path.read_text(encoding="utf-8") == text else "replaced"
    except FileNotFoundError:
        return "wrote"
    except (OSError, UnicodeDecodeError):
        return "replaced"


def replace_all(files: Mapping[Path, str]) -> None:
    """Write every file, or -- on any error -- none of them, leaving no temporary behind."""
    temporaries: dict[Path, str] = {}
    try:
        for path, text in files.items():
            descriptor, temporary = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
            )
            temporaries[path] = temporary
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o644)  # read by services running as other users
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {exc.filename or 'the files'} ({exc.strerror or exc})"
        ) from None
    finally:
        for temporary in temporaries.values():
            with suppress(FileNotFoundError):
                os.unlink(temporary)
