"""What the stream sources share: the message, poll checks, optional imports, strict JSON,
and keeping secrets out of error messages."""

from __future__ import annotations

import importlib
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mlrelease.errors import ConfigError, DataError

# One logger for the package, named as before the split so logging settings still apply.
log = logging.getLogger("mlrelease.data.streams")

SECRET_WORDS: Final = ("password", "secret", "token", "key")  # in option names

_T = TypeVar("_T")


@dataclass(frozen=True)
class Message:
    """One row of a stream.

    ``key`` is unique and stable within its source forever: a Redis entry id
    (``"1700000000000-0"``), a Kafka ``"partition:offset"`` (``"0:42"``), or a
    folder's ``"file name:row"`` (``"batch-3.csv:17"``, rows counted from 0 after
    the header). ``record`` maps column names to JSON values.
    """

    key: str
    record: dict[str, Any]


def check_poll(max_messages: int, timeout: float) -> None:
    if max_messages < 1:
        raise ConfigError(f"max_messages must be at least 1, not {max_messages}")
    if timeout < 0:
        raise ConfigError(f"timeout must not be negative, not {timeout}")


def take(buffer: deque[_T], limit: int, convert: Callable[[_T], Message]) -> list[Message]:
    """Convert from the head of ``buffer``; a bad head is raised only when first."""
    messages: list[Message] = []
    while buffer and len(messages) < limit:
        try:
            messages.append(convert(buffer[0]))
        except DataError:
            if messages:
                break  # return the good ones; the next poll raises on this one
            raise
        buffer.popleft()
    return messages


def import_optional(module_name: str, extra: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError:
        raise ConfigError(
            f"this stream needs the {module_name} package: pip install 'mlrelease[{extra}]'"
        ) from None


def redact_url(url: str) -> str:
    """The URL without its password (in the authority or a ``password=`` parameter)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user = parts.username or ""
            netloc = f"{user}:***@{netloc.rpartition('@')[2]}"
        query = [(k, "***" if "password" in k.lower() else v) for k, v in parse_qsl(parts.query)]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*")))
    except ValueError:
        return "(unparsable URL)"


def without_secrets(text: str, options: Mapping[str, Any]) -> str:
    for option, value in options.items():
        if any(word in option.lower() for word in SECRET_WORDS) and str(value):
            text = text.replace(str(value), "***")
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str | bytes) -> Any:
    """JSON as the standard has it: no NaN or Infinity."""
    return json.loads(text, parse_constant=_reject_constant)
