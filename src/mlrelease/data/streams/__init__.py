"""Streams of new labelled rows for retraining, consumed at least once.

A :class:`StreamSource` hands out :class:`Message` s (one row each, under a key
that is unique and stable within the source forever) and remembers how far it
has been *committed*. The caller's part of the contract:

1. ``poll()`` a batch;
2. store every message under ``(source.name, message.key)`` with a unique
   constraint, so a message delivered a second time is ignored;
3. only then ``commit()`` the batch.

A crash between 2 and 3 delivers the batch again after the restart, and the
unique key ignores it: a restart neither loses nor double-counts rows. Within
one instance, successive polls return successive messages, each once, whether
or not the earlier ones were committed yet.

Where a source is ordered (a Kafka partition, a file of the folder), committing
a message acknowledges every earlier message of its partition or file, as Kafka
offsets do; committing an older batch after a newer one never moves back.

A message that cannot be turned into a record (bad JSON, not an object) is a
DataError naming its key. The messages before it are returned first and nothing
after it is skipped: polling raises at the same place until the producer's
mistake is dealt with, then ``source.commit([Message(key, {})])`` skips it on
purpose (a folder's unreadable file is moved out of the folder instead).

A server that cannot be reached is a StoreError (503: try again), naming the
server without its password; settings that cannot work are a ConfigError.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol, runtime_checkable

from mlrelease.data.streams._common import Message
from mlrelease.data.streams._folder import FolderSource
from mlrelease.data.streams._kafka import KafkaSource
from mlrelease.data.streams._redis import RedisStreamSource
from mlrelease.errors import ConfigError

__all__ = [
    "FolderSource",
    "KafkaSource",
    "Message",
    "RedisStreamSource",
    "StreamSource",
    "open_stream",
]

# Defined in private modules, shown (repr, pickle, help) under the public path as before.
for _public in (FolderSource, KafkaSource, Message, RedisStreamSource):
    _public.__module__ = __name__
del _public


@runtime_checkable
class StreamSource(Protocol):
    """Where new labelled rows come from; see the module docstring for the contract."""

    name: str  # "folder:incoming", "redis:labels", "kafka:labels": stable, for storage

    def poll(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        """Up to ``max_messages`` messages not yet returned, oldest first; ``[]`` after
        ``timeout`` seconds with nothing new. A new instance starts again after the
        last committed message."""
        ...

    def commit(self, messages: Sequence[Message]) -> None:
        """Record ``messages`` (and, where ordered, everything before them) as stored."""
        ...

    def close(self) -> None: ...


_KINDS: Final[Mapping[str, Callable[..., Any]]] = {
    "folder": FolderSource,
    "redis": RedisStreamSource,
    "kafka": KafkaSource,
}


def open_stream(kind: str, **settings: Any) -> StreamSource:
    """``open_stream("redis", url=..., stream=...)``: the source of that kind."""
    factory = _KINDS.get(kind)
    if factory is None:
        raise ConfigError(f"unknown stream kind {kind!r}; kinds: {', '.join(_KINDS)}")
    signature = inspect.signature(factory)
    try:
        signature.bind(**settings)
    except TypeError as exc:
        accepted = ", ".join(signature.parameters)
        raise ConfigError(
            f"invalid settings for a {kind} stream ({exc}); settings: {accepted}"
        ) from None
    source: StreamSource = factory(**settings)
    return source
