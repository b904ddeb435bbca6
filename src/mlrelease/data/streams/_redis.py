"""Redis Streams as a stream: a consumer group, pending entries first after a restart."""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlrelease.data.streams._common import (
    Message,
    check_poll,
    import_optional,
    log,
    redact_url,
    strict_json,
    take,
)
from mlrelease.errors import ConfigError, DataError, StoreError

if TYPE_CHECKING:
    import redis


class RedisStreamSource:
    """Entries of a Redis stream, read through a consumer group.

    The group is created on first use (from the start of the stream). A new
    instance first returns the entries delivered to its consumer and never
    acknowledged (a crash), then new ones; ``commit`` acknowledges (XACK).

    The consumer name defaults to this host's name, so a process restarted on
    the same host gets its unacknowledged entries back. Give each of several
    processes on one host its own ``consumer``, and give a stable one where the
    host name changes on every restart (containers); entries pending under a
    consumer name that never comes back stay pending.

    A record is the JSON object in the entry's only field ``record`` (or
    ``json``); otherwise the entry's fields, each value parsed as JSON when it
    is JSON and kept as text when not.
    """

    def __init__(
        self,
        url: str,
        stream: str,
        *,
        group: str = "mlrelease",
        consumer: str | None = None,
        name: str | None = None,
    ) -> None:
        module = import_optional("redis", "redis")
        self.name = name or f"redis:{stream}"
        self.stream, self.group = stream, group
        self.consumer = consumer or socket.gethostname() or "mlrelease"
        self._where = redact_url(url)
        self._errors = module.exceptions
        try:
            self._client: redis.Redis = module.Redis.from_url(url, socket_connect_timeout=5.0)
        except ValueError as exc:
            raise ConfigError(f"{self.name}: invalid Redis URL {self._where}: {exc}") from None
        self._group_ready = False
        self._cursor: str | None = "0"  # in this consumer's pending entries; None once past
        self._buffer: deque[tuple[str, dict[bytes, bytes]]] = deque()

    def poll(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        check_poll(max_messages, timeout)
        if not self._buffer:
            self._fetch(max_messages, timeout)
        return take(self._buffer, max_messages, self._message)

    def commit(self, messages: Sequence[Message]) -> None:
        ids = [message.key for message in messages]
        if not ids:
            return
        with self._translate("acknowledge entries of"):
            self._ensure_group()
            self._client.xack(self.stream, self.group, *ids)
        acknowledged = set(ids)
        self._buffer = deque(entry for entry in self._buffer if entry[0] not in acknowledged)

    def close(self) -> None:
        self._client.close()

    def _fetch(self, count: int, timeout: float) -> None:
        with self._translate("read"):
            self._ensure_group()
            while self._cursor is not None:  # this consumer's entries from before a restart
                entries = self._read(self._cursor, count, block=None)
                if not entries:
                    self._cursor = None
                    break
                self._cursor = entries[-1][0]
                self._buffer.extend(self._existing(entries))
                if self._buffer:
                    return
            block = max(1, round(timeout * 1000)) if timeout > 0 else None
            self._buffer.extend(self._read(">", count, block=block))

    def _read(
        self, cursor: str, count: int, *, block: int | None
    ) -> list[tuple[str, dict[bytes, bytes]]]:
        reply: Any = self._client.xreadgroup(
            self.group, self.consumer, {self.stream: cursor}, count=count, block=block
        )
        if not reply:
            return []
        if isinstance(reply, dict):  # RESP3: {stream: [entries]}
            (entries,) = reply.values()
            entries = entries[0] if entries and isinstance(entries[0], list) else entries
        else:  # RESP2: [[stream, entries]]
            entries = reply[0][1]
        return [(_text(entry_id), fields) for entry_id, fields in entries]

    def _existing(
        self, entries: list[tuple[str, dict[bytes, bytes]]]
    ) -> list[tuple[str, dict[bytes, bytes]]]:
        # A pending entry deleted from the stream (XDEL, trimming) comes back without
        # fields: there is nothing left to deliver, so it is acknowledged.
        gone = [entry_id for entry_id, fields in entries if not fields]
        if gone:
            log.warning("%s: entries %s were deleted before being stored", self.name, gone)
            self._client.xack(self.stream, self.group, *gone)
        return [entry for entry in entries if entry[1]]

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except self._errors.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _message(self, entry: tuple[str, dict[bytes, bytes]]) -> Message:
        entry_id, raw = entry
        try:
            fields = {_text(field): _text(value) for field, value in raw.items()}
        except UnicodeDecodeError:
            raise self._poison(entry_id, "it is not UTF-8 text") from None
        if len(fields) == 1 and next(iter(fields)) in ("record", "json"):
            ((field, text),) = fields.items()
            try:
                record = strict_json(text)
            except ValueError as exc:
                raise self._poison(entry_id, f"field {field!r} is not JSON ({exc})") from None
            if not isinstance(record, dict):
                raise self._poison(entry_id, f"field {field!r} is not a JSON object")
            return Message(entry_id, record)
        return Message(entry_id, {field: _json_or_text(text) for field, text in fields.items()})

    def _poison(self, entry_id: str, reason: str) -> DataError:
        return DataError(
            f"{self.name}: entry {entry_id} of stream {self.stream!r} cannot be read: {reason}; "
            f"fix the producer, then skip the entry with commit([Message({entry_id!r}, {{}})])",
            details={"source": self.name, "key": entry_id},
        )

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        try:
            yield
        except (self._errors.ConnectionError, self._errors.TimeoutError) as exc:
            raise StoreError(
                f"{self.name}: cannot reach Redis at {self._where} ({exc}); check that the "
                "server is running and the URL's host, port, database and password"
            ) from None
        except self._errors.RedisError as exc:
            raise ConfigError(
                f"{self.name}: Redis at {self._where} refused to {action} stream "
                f"{self.stream!r} (group {self.group!r}): {exc}"
            ) from None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _json_or_text(text: str) -> Any:
    try:
        return strict_json(text)
    except ValueError:
        return text
