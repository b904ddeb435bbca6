"""Kafka as a stream: a consumer group with manual, synchronous commits per partition."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from mlrelease.data.streams._common import (
    Message,
    check_poll,
    import_optional,
    log,
    strict_json,
    take,
    without_secrets,
)
from mlrelease.errors import ConfigError, DataError, StoreError

if TYPE_CHECKING:
    import confluent_kafka

_KAFKA_DEFAULTS: Final[Mapping[str, Any]] = {
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 6000,
}
_KAFKA_FIXED: Final = ("bootstrap.servers", "group.id", "enable.auto.commit")


class KafkaSource:
    """Messages of a Kafka topic, read by a consumer group with manual commits.

    Each value must be a JSON object (UTF-8): the record. ``options`` are
    librdkafka settings (``security.protocol``, ``sasl.*``, ...) laid over the
    defaults ``auto.offset.reset=earliest`` and ``session.timeout.ms=6000``;
    ``bootstrap.servers``, ``group.id`` and ``enable.auto.commit`` (always off)
    are not options. ``commit`` commits synchronously, per partition, the offset
    after the highest message given.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        group: str = "mlrelease",
        name: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self._kafka = import_optional("confluent_kafka", "kafka")
        self.name = name or f"kafka:{topic}"
        self.topic, self.servers = topic, bootstrap_servers
        options = dict(options or {})
        fixed = sorted(set(options) & set(_KAFKA_FIXED))
        if fixed:
            raise ConfigError(f"{self.name}: options may not set {', '.join(fixed)}")
        config = {
            **_KAFKA_DEFAULTS,
            **options,
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "logger": log,
            "error_cb": self._on_error,
        }
        try:
            self._consumer: confluent_kafka.Consumer = self._kafka.Consumer(config)
        except (self._kafka.KafkaException, ValueError, TypeError) as exc:
            reason = without_secrets(str(exc), options)
            raise ConfigError(f"{self.name}: invalid Kafka options: {reason}") from None
        self._consumer.subscribe([topic], on_revoke=self._on_revoke, on_lost=self._on_revoke)
        self._buffer: deque[confluent_kafka.Message] = deque()
        self._committed: dict[int, int] = {}  # partition -> next offset, as committed here
        self._broker_error: confluent_kafka.KafkaError | None = None
        self._closed = False

    def poll(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        check_poll(max_messages, timeout)
        if not self._buffer:
            self._fetch(max_messages, timeout)
        return take(self._buffer, max_messages, self._message)

    def commit(self, messages: Sequence[Message]) -> None:
        after: dict[int, int] = {}
        for message in messages:
            partition, offset = self._split_key(message.key)
            after[partition] = max(after.get(partition, 0), offset + 1)
        offsets = [
            self._kafka.TopicPartition(self.topic, partition, offset)
            for partition, offset in sorted(after.items())
            if offset > self._committed.get(partition, -1)
        ]
        if not offsets:
            return
        try:
            results = self._consumer.commit(offsets=offsets, asynchronous=False)
        except self._kafka.KafkaException as exc:
            raise self._unavailable(f"commit failed: {exc}") from None
        failed = [f"{tp.partition}: {tp.error}" for tp in results or [] if tp.error]
        if failed:
            raise self._unavailable(f"commit failed for partitions {'; '.join(failed)}")
        for tp in offsets:
            self._committed[tp.partition] = tp.offset
        self._buffer = deque(m for m in self._buffer if _where(m)[1] >= after.get(_where(m)[0], 0))
        self._skip_to(offsets)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()

    def _fetch(self, count: int, timeout: float) -> None:
        batch = self._consumer.consume(num_messages=count, timeout=timeout)
        errors = []
        for message in batch:
            error = message.error()
            if error is None:
                self._buffer.append(message)
            elif error.code() != self._kafka.KafkaError._PARTITION_EOF:
                errors.append(error)
        error = errors[0] if errors else self._broker_error
        self._broker_error = None
        if error is None or self._buffer:
            return
        if error.code() == self._kafka.KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise ConfigError(
                f"{self.name}: topic {self.topic!r} does not exist at {self.servers}; "
                "create it or check the name"
            )
        raise self._unavailable(error.str())

    def _message(self, message: confluent_kafka.Message) -> Message:
        partition, offset = _where(message)
        key = f"{partition}:{offset}"
        value = message.value()
        try:
            record = strict_json(value) if value is not None else None
        except ValueError as exc:  # includes UnicodeDecodeError
            raise self._poison(key, f"its value is not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise self._poison(key, "its value is not a JSON object")
        return Message(key, record)

    def _poison(self, key: str, reason: str) -> DataError:
        partition, offset = self._split_key(key)
        return DataError(
            f"{self.name}: message {key} (topic {self.topic!r}, partition {partition}, "
            f"offset {offset}) cannot be read: {reason}; fix the producer, then skip it with "
            f"commit([Message({key!r}, {{}})]) or by resetting the group's offset to {offset + 1}",
            details={"source": self.name, "key": key},
        )

    def _split_key(self, key: str) -> tuple[int, int]:
        partition, _, offset = key.partition(":")
        if not (partition.isdigit() and offset.isdigit()):
            raise DataError(
                f"{self.name}: {key!r} is not a key of this source ('partition:offset')"
            )
        return int(partition), int(offset)

    def _skip_to(self, offsets: list[confluent_kafka.TopicPartition]) -> None:
        """After a skip past messages not fetched yet, fetch from the committed offset."""
        assigned = {tp.partition for tp in self._consumer.assignment()}
        for tp in offsets:
            if tp.partition not in assigned:
                continue
            (position,) = self._consumer.position(
                [self._kafka.TopicPartition(self.topic, tp.partition)]
            )
            if 0 <= position.offset < tp.offset:
                self._consumer.seek(tp)

    def _on_revoke(
        self, consumer: confluent_kafka.Consumer, partitions: list[confluent_kafka.TopicPartition]
    ) -> None:
        # Another member reads these now: drop what was fetched and not returned.
        gone = {tp.partition for tp in partitions}
        self._buffer = deque(m for m in self._buffer if _where(m)[0] not in gone)
        for partition in gone:
            self._committed.pop(partition, None)

    def _on_error(self, error: confluent_kafka.KafkaError) -> None:
        if error.fatal() or error.code() == self._kafka.KafkaError._ALL_BROKERS_DOWN:
            self._broker_error = error

    def _unavailable(self, reason: str) -> StoreError:
        return StoreError(
            f"{self.name}: Kafka at {self.servers}: {reason}; check that the brokers are "
            "running and reachable, and the security options; uncommitted messages come again"
        )


def _where(message: confluent_kafka.Message) -> tuple[int, int]:
    """``(partition, offset)`` of a fetched message (only error events lack them)."""
    partition, offset = message.partition(), message.offset()
    if partition is None or offset is None:
        raise StoreError(f"Kafka returned a message without a position: {message.error()}")
    return partition, offset
