"""Stream sources against real brokers: at least once, and a restart loses nothing.

Each source runs the same story: store every message under its key (a unique key,
so a second delivery is ignored), commit; take more without committing and crash;
a new instance gives back exactly the uncommitted ones.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlrelease.data.streams import (
    FolderSource,
    KafkaSource,
    Message,
    RedisStreamSource,
    StreamSource,
    open_stream,
)
from mlrelease.errors import ConfigError, DataError, StoreError

REDIS_URL = os.environ.get("MLRELEASE_TEST_REDIS", "redis://127.0.0.1:6379/0")
KAFKA_LOG = logging.getLogger("tests.kafka")
N = 20


def rows(count: int = N, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"id": i, "x": i / 4, "colour": f"c{i % 3}", "label": i % 2}
        for i in range(start, start + count)
    ]


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- the shared story -------------------------------------------------------------------


class Sink:
    """The caller's side: a table with a unique key, and what was committed."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.committed: list[str] = []

    def take(self, source: StreamSource, messages: list[Message], *, commit: bool = True) -> None:
        for message in messages:
            self.stored.setdefault(message.key, message.record)  # a repeat is ignored
        if commit:
            source.commit(messages)
            self.committed += [message.key for message in messages]


def poll_some(source: StreamSource, most: int, *, within: float = 15.0) -> list[Message]:
    """The first non-empty poll (a Kafka consumer needs a few seconds to join its group)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        messages = source.poll(max_messages=most, timeout=0.5)
        if messages:
            assert len(messages) <= most
            return messages
    pytest.fail(f"{source.name}: nothing to poll within {within} s")


def poll_until(source: StreamSource, done: Callable[[list[Message]], bool]) -> list[Message]:
    polled: list[Message] = []
    deadline = time.monotonic() + 15
    while not done(polled):
        assert time.monotonic() < deadline, f"{source.name}: only {len(polled)} messages came"
        polled += source.poll(max_messages=7, timeout=0.5)
    return polled


def keys(messages: list[Message]) -> list[str]:
    return [message.key for message in messages]


def by_id(records: Any) -> list[dict[str, Any]]:
    return sorted(records, key=lambda record: record["id"])


def crash_and_restart(
    open_source: Callable[[], StreamSource], expected: list[dict[str, Any]]
) -> Sink:
    sink = Sink()
    first = open_source()
    committed = poll_some(first, 4)
    sink.take(first, committed)
    uncommitted = poll_some(first, 3)
    assert not set(keys(uncommitted)) & set(keys(committed))
    sink.take(first, uncommitted, commit=False)  # stored, then the crash before commit
    first.close()

    second = open_source()
    again: list[Message] = []

    def everything(polled: list[Message]) -> bool:
        return len(set(sink.committed) | set(keys(polled))) >= len(expected)

    for batch in _batches(second, everything, again):
        sink.take(second, batch)
    assert set(keys(uncommitted)) <= set(keys(again)), "uncommitted messages must come again"
    assert not set(keys(committed)) & set(keys(again)), "committed messages must not come again"
    assert second.poll(timeout=0.3) == []
    second.close()

    assert [key for key, count in Counter(sink.committed).items() if count > 1] == []
    assert set(sink.committed) == set(sink.stored)
    assert by_id(sink.stored.values()) == by_id(expected)
    return sink


def _batches(
    source: StreamSource, done: Callable[[list[Message]], bool], polled: list[Message]
) -> Iterator[list[Message]]:
    deadline = time.monotonic() + 15
    while not done(polled):
        assert time.monotonic() < deadline, f"{source.name}: only {len(polled)} messages came"
        batch = source.poll(max_messages=7, timeout=0.5)
        polled += batch
        yield batch


def two_polls_then_commit(source: StreamSource, expected: list[dict[str, Any]]) -> list[Message]:
    """Two polls without a commit in between lose nothing; committing out of order is safe."""
    first = poll_some(source, 3)
    second = poll_some(source, 3)
    assert not set(keys(first)) & set(keys(second))
    rest = poll_until(source, lambda polled: len(first + second + polled) >= len(expected))
    everything = first + second + rest
    assert len(set(keys(everything))) == len(everything) == len(expected)
    assert by_id(message.record for message in everything) == by_id(expected)
    source.commit(rest)
    source.commit(second)
    source.commit(first)  # older than what is committed: must not move back
    return everything


# --- folder -----------------------------------------------------------------------------


def drop(folder: Path, name: str, frame: pd.DataFrame, *, age: float = 5.0) -> Path:
    """Write then rename into the folder, as writers must; ``age`` seconds old."""
    partial = folder / f"{name}.part"
    if name.endswith(".csv"):
        frame.to_csv(partial, index=False)
    else:
        frame.to_parquet(partial, index=False)
    settled = time.time() - age
    os.utime(partial, (settled, settled))
    return partial.rename(folder / name)


@pytest.fixture
def incoming(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    folder = tmp_path / "incoming"
    folder.mkdir()
    everything = rows()
    for number, start in enumerate(range(0, N, 8)):
        drop(
            folder,
            f"batch-{number}.csv",
            pd.DataFrame(everything[start : start + 8]),
            age=10 - number,
        )
    return folder, everything


def test_folder_restart_after_crash_loses_and_repeats_nothing(
    incoming: tuple[Path, list[dict[str, Any]]],
) -> None:
    folder, expected = incoming
    sink = crash_and_restart(lambda: FolderSource(folder), expected)
    assert sorted(sink.committed)[:2] == ["batch-0.csv:0", "batch-0.csv:1"]
    offsets = json.loads((folder / ".mlrelease-offsets.json").read_text())
    assert {name: entry["rows"] for name, entry in offsets["files"].items()} == {
        "batch-0.csv": 8,
        "batch-1.csv": 8,
        "batch-2.csv": 4,
    }
    assert all(len(entry["sha256"]) == 64 for entry in offsets["files"].values())
    assert sorted(path.name for path in folder.iterdir()) == [
        ".mlrelease-offsets.json",
        "batch-0.csv",
        "batch-1.csv",
        "batch-2.csv",
    ]


def test_folder_two_polls_without_commit(incoming: tuple[Path, list[dict[str, Any]]]) -> None:
    folder, expected = incoming
    source = FolderSource(folder)
    everything = two_polls_then_commit(source, expected)
    assert keys(everything)[:9] == [f"batch-0.csv:{row}" for row in range(8)] + ["batch-1.csv:0"]
    assert FolderSource(folder).poll(timeout=0) == []


def test_folder_takes_oldest_file_first(tmp_path: Path) -> None:
    drop(tmp_path, "b.csv", pd.DataFrame(rows(1, start=1)), age=20)
    drop(tmp_path, "a.csv", pd.DataFrame(rows(1, start=2)), age=10)
    drop(tmp_path, "c.csv", pd.DataFrame(rows(1, start=3)), age=10)
    assert keys(FolderSource(tmp_path).poll(timeout=0)) == ["b.csv:0", "a.csv:0", "c.csv:0"]


def test_folder_ignores_partial_and_fresh_files(tmp_path: Path) -> None:
    partial = tmp_path / "late.csv.part"
    pd.DataFrame(rows(3)).to_csv(partial, index=False)
    os.utime(partial, (time.time() - 60, time.time() - 60))
    (tmp_path / ".hidden.csv").write_text("id\n1\n")
    (tmp_path / "notes.txt").write_text("not data\n")
    source = FolderSource(tmp_path)
    assert source.poll(timeout=0) == []

    partial.rename(tmp_path / "late.csv")
    assert keys(source.poll(timeout=0)) == ["late.csv:0", "late.csv:1", "late.csv:2"]

    fresh = tmp_path / "fresh.csv"
    pd.DataFrame(rows(2)).to_csv(fresh, index=False)  # written just now: may still grow
    assert source.poll(timeout=0) == []
    os.utime(fresh, (time.time() - 2, time.time() - 2))
    assert keys(source.poll(timeout=0)) == ["fresh.csv:0", "fresh.csv:1"]


def test_folder_pattern_selects_files(tmp_path: Path) -> None:
    drop(tmp_path, "labels-1.csv", pd.DataFrame(rows(1)))
    drop(tmp_path, "other.csv", pd.DataFrame(rows(1)))
    source = open_stream("folder", path=str(tmp_path), pattern="labels-*", name="folder:labels")
    assert source.name == "folder:labels"
    assert keys(source.poll(timeout=0)) == ["labels-1.csv:0"]


def test_folder_file_changed_after_it_was_read_is_an_error(tmp_path: Path) -> None:
    drop(tmp_path, "batch.csv", pd.DataFrame(rows(3)))
    source = FolderSource(tmp_path)
    source.commit(source.poll(timeout=0))
    assert source.poll(timeout=0) == []

    drop(tmp_path, "batch.csv", pd.DataFrame(rows(4)), age=3)  # replaced in place: not allowed
    for reader in (source, FolderSource(tmp_path)):
        with pytest.raises(DataError, match="batch.csv changed after it was read"):
            reader.poll(timeout=0)


def test_folder_touching_a_file_is_not_a_change(tmp_path: Path) -> None:
    path = drop(tmp_path, "batch.csv", pd.DataFrame(rows(2)))
    source = FolderSource(tmp_path)
    source.commit(source.poll(timeout=0))
    os.utime(path, (time.time() - 2, time.time() - 2))
    assert source.poll(timeout=0) == []
    assert FolderSource(tmp_path).poll(timeout=0) == []


def test_folder_parquet_records_are_json(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": np.array([1, 2, 3], dtype="int64"),
            "x": [0.5, float("nan"), np.inf],
            "flag": np.array([True, False, True]),
            "name": ["a", None, "c"],
            "when": pd.to_datetime(pd.Series(["2024-01-01", None, "2024-01-03"])),
            "label": np.array([1, 0, 1], dtype="int8"),
        }
    )
    drop(tmp_path, "rows.parquet", frame)
    records = [message.record for message in FolderSource(tmp_path).poll(timeout=0)]
    assert records == [
        {"id": 1, "x": 0.5, "flag": True, "name": "a", "when": "2024-01-01T00:00:00", "label": 1},
        {"id": 2, "x": None, "flag": False, "name": None, "when": None, "label": 0},
        {"id": 3, "x": None, "flag": True, "name": "c", "when": "2024-01-03T00:00:00", "label": 1},
    ]
    assert {type(value) for record in records for value in record.values()} <= {
        int,
        float,
        bool,
        str,
        type(None),
    }
    json.dumps(records, allow_nan=False)


def test_folder_unreadable_file_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    os.utime(bad, (time.time() - 5, time.time() - 5))
    with pytest.raises(DataError, match="bad.parquet.*move it out"):
        FolderSource(tmp_path).poll(timeout=0)


def test_folder_source_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        FolderSource(tmp_path / "missing")


def test_folder_poll_waits_up_to_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    assert FolderSource(tmp_path).poll(timeout=0.3) == []
    assert 0.25 <= time.monotonic() - started < 2


# --- Redis ------------------------------------------------------------------------------


def xadd_rows(client: Any, stream: str, records: list[dict[str, Any]]) -> list[str]:
    return [client.xadd(stream, {"record": json.dumps(record)}).decode() for record in records]


def test_redis_restart_after_crash_loses_and_repeats_nothing(
    redis_client: Any, redis_stream: str
) -> None:
    expected = rows()
    ids = xadd_rows(redis_client, redis_stream, expected)
    sink = crash_and_restart(
        lambda: RedisStreamSource(REDIS_URL, redis_stream, consumer="worker-1"), expected
    )
    assert set(sink.committed) == set(ids)
    assert redis_client.xpending(redis_stream, "mlrelease")["pending"] == 0


def test_redis_two_polls_without_commit(redis_client: Any, redis_stream: str) -> None:
    expected = rows()
    ids = xadd_rows(redis_client, redis_stream, expected)
    source = RedisStreamSource(REDIS_URL, redis_stream)
    assert keys(two_polls_then_commit(source, expected)) == ids
    source.close()
    assert RedisStreamSource(REDIS_URL, redis_stream).poll(timeout=0.1) == []


def test_redis_record_forms(redis_client: Any, redis_stream: str) -> None:
    redis_client.xadd(redis_stream, {"json": '{"a": [1, 2], "b": null}'})
    redis_client.xadd(
        redis_stream, {"x": "1.5", "name": "abc", "flag": "true", "code": "007", "nan": "NaN"}
    )
    redis_client.xadd(redis_stream, {"record": "[1, 2]", "label": "1"})  # two fields: plain fields
    source = open_stream("redis", url=REDIS_URL, stream=redis_stream)
    assert source.name == f"redis:{redis_stream}"
    assert [message.record for message in source.poll(timeout=0.1)] == [
        {"a": [1, 2], "b": None},
        {"x": 1.5, "name": "abc", "flag": True, "code": "007", "nan": "NaN"},
        {"record": [1, 2], "label": 1},
    ]


def test_redis_poison_entry_stops_until_skipped(redis_client: Any, redis_stream: str) -> None:
    good = xadd_rows(redis_client, redis_stream, rows(1))
    bad = redis_client.xadd(redis_stream, {"record": "[1, 2]"}).decode()
    later = xadd_rows(redis_client, redis_stream, rows(1, start=1))
    source = RedisStreamSource(REDIS_URL, redis_stream)
    assert keys(source.poll(timeout=0.1)) == good
    for _ in range(2):
        with pytest.raises(DataError, match=f"entry {bad} .* not a JSON object") as raised:
            source.poll(timeout=0.1)
    assert raised.value.details["key"] == bad
    source.commit([Message(bad, {})])
    assert keys(source.poll(timeout=0.1)) == later


def test_redis_deleted_pending_entry_is_dropped(redis_client: Any, redis_stream: str) -> None:
    ids = xadd_rows(redis_client, redis_stream, rows(3))
    first = RedisStreamSource(REDIS_URL, redis_stream, consumer="w")
    assert keys(first.poll(timeout=0.1)) == ids
    first.close()
    redis_client.xdel(redis_stream, ids[1])
    second = RedisStreamSource(REDIS_URL, redis_stream, consumer="w")
    assert keys(second.poll(timeout=0.1)) == [ids[0], ids[2]]


def test_redis_unreachable_names_server_without_password() -> None:
    port = closed_port()
    source = RedisStreamSource(f"redis://user:hunter2@127.0.0.1:{port}/0?password=hunter3", "s")
    with pytest.raises(StoreError) as raised:
        source.poll(timeout=0.1)
    message = str(raised.value)
    assert f"redis://user:***@127.0.0.1:{port}/0?password=***" in message
    assert "hunter" not in message


def test_redis_wrong_key_type_is_a_config_error(redis_client: Any, redis_stream: str) -> None:
    redis_client.set(redis_stream, "not a stream")
    with pytest.raises(ConfigError, match="WRONGTYPE"):
        RedisStreamSource(REDIS_URL, redis_stream).poll(timeout=0.1)


# --- Kafka ------------------------------------------------------------------------------


def produce(servers: str, topic: str, values: list[bytes], partition: Callable[[int], int]) -> None:
    from confluent_kafka import Producer

    failures: list[str] = []
    producer = Producer({"bootstrap.servers": servers, "logger": KAFKA_LOG})
    for index, value in enumerate(values):
        producer.produce(
            topic,
            value=value,
            partition=partition(index),
            on_delivery=lambda error, _message: failures.append(str(error)) if error else None,
        )
    assert producer.flush(10) == 0
    assert failures == []


def committed_offsets(servers: str, topic: str) -> dict[int, int]:
    """Partition -> offset committed by the default group."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": servers, "group.id": "mlrelease", "logger": KAFKA_LOG}
    )
    try:
        committed = consumer.committed(
            [TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10
        )
        return {tp.partition: tp.offset for tp in committed}
    finally:
        consumer.close()


def encoded(records: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(record).encode() for record in records]


def test_kafka_restart_after_crash_loses_and_repeats_nothing(
    kafka_servers: str, kafka_topic: str
) -> None:
    expected = rows()
    produce(kafka_servers, kafka_topic, encoded(expected), partition=lambda i: i % 2)
    sink = crash_and_restart(lambda: KafkaSource(kafka_servers, kafka_topic), expected)
    assert sorted(sink.committed) == sorted(f"{p}:{o}" for p in (0, 1) for o in range(N // 2))
    assert committed_offsets(kafka_servers, kafka_topic) == {0: 10, 1: 10}


def test_kafka_two_polls_without_commit(kafka_servers: str, kafka_topic: str) -> None:
    expected = rows()
    produce(kafka_servers, kafka_topic, encoded(expected), partition=lambda i: i % 2)
    source = open_stream("kafka", bootstrap_servers=kafka_servers, topic=kafka_topic)
    assert source.name == f"kafka:{kafka_topic}"
    try:
        two_polls_then_commit(source, expected)
    finally:
        source.close()
    assert committed_offsets(kafka_servers, kafka_topic) == {0: 10, 1: 10}


def test_kafka_poison_message_stops_until_skipped(kafka_servers: str, kafka_topic: str) -> None:
    values = [*encoded(rows(2)), b"not json", b"[1, 2]", *encoded(rows(2, start=2))]
    produce(kafka_servers, kafka_topic, values, partition=lambda _: 0)
    source = KafkaSource(kafka_servers, kafka_topic)
    try:
        assert keys(poll_until(source, lambda polled: len(polled) >= 2)) == ["0:0", "0:1"]
        for _ in range(2):
            with pytest.raises(DataError, match=r"message 0:2 .*offset 2.*not JSON"):
                source.poll(timeout=0.1)
        source.commit([Message("0:2", {})])
        with pytest.raises(DataError, match=r"message 0:3 .*not a JSON object"):
            source.poll(timeout=0.1)
        source.commit([Message("0:3", {})])
        assert keys(poll_until(source, lambda polled: len(polled) >= 2)) == ["0:4", "0:5"]
    finally:
        source.close()


def test_kafka_unreachable_is_a_store_error() -> None:
    servers = f"127.0.0.1:{closed_port()}"
    source = KafkaSource(servers, "labels")
    try:
        with pytest.raises(StoreError, match=f"Kafka at {servers}: .*brokers are down"):
            for _ in range(20):
                source.poll(timeout=0.5)
    finally:
        source.close()


def test_kafka_options_cannot_turn_on_auto_commit() -> None:
    with pytest.raises(ConfigError, match="enable.auto.commit"):
        KafkaSource("127.0.0.1:9", "t", options={"enable.auto.commit": True})


def test_kafka_bad_option_keeps_secrets_out() -> None:
    with pytest.raises(ConfigError, match="no.such.option") as raised:
        KafkaSource("127.0.0.1:9", "t", options={"sasl.password": "hunter2", "no.such.option": 1})
    assert "hunter2" not in str(raised.value)


# --- choosing a source, missing packages ------------------------------------------------


def test_open_stream_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(ConfigError, match="kinds: folder, redis, kafka"):
        open_stream("rabbitmq")


def test_open_stream_bad_settings_list_the_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="settings: path, pattern, name"):
        open_stream("folder", path=tmp_path, glob="*.csv")


@pytest.mark.parametrize(
    ("module", "extra", "make"),
    [
        ("redis", "redis", lambda: RedisStreamSource(REDIS_URL, "s")),
        ("confluent_kafka", "kafka", lambda: KafkaSource("127.0.0.1:9", "t")),
    ],
)
def test_missing_client_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, module: str, extra: str, make: Callable[[], object]
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigError, match=rf"pip install 'mlrelease\[{extra}\]'"):
        make()


def test_poll_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_messages"):
        FolderSource(tmp_path).poll(max_messages=0)
    with pytest.raises(ConfigError, match="timeout"):
        FolderSource(tmp_path).poll(timeout=-1)
