"""Routers without NGINX: choosing one, rendering weights, atomic writes, reloads, probes.

The reload command is a real process (a tiny Python script that appends to a file);
the readiness probe talks to a real HTTP server on a random 127.0.0.1 port.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlrelease.errors import ConfigError
from mlrelease.release.routers import LocalRouter, NginxRouter, make_router
from mlrelease.release.routers.nginx import Address, render_upstream
from mlrelease.spec import NginxRouterSpec, NginxSpec
from mlrelease.traffic import TrafficState

STABLE, CANARY = Address("127.0.0.1", 8001), Address("127.0.0.1", 8002)
RECORD_RELOAD = "import sys; open(sys.argv[1], 'a').write('reload\\n')"
FAIL_RELOAD = (
    "import sys; sys.stderr.write('nginx: [emerg] unexpected end of file\\n'); sys.exit(1)"
)


def state(weight: int, canary: int | None = 2) -> TrafficState:
    return TrafficState(
        "breast-cancer", "production", stable=1, canary=canary, canary_weight=weight
    )


def nginx_spec(path: Path, reload: list[str], **overrides: str) -> NginxSpec:
    values = {"config": str(path), "stable": str(STABLE), "canary": str(CANARY), **overrides}
    return NginxSpec(reload=reload, **values)


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    return tmp_path / "upstream.conf"


@pytest.fixture
def reloads(tmp_path: Path) -> Path:
    return tmp_path / "reloads.log"


@pytest.fixture
def router(upstream: Path, reloads: Path) -> NginxRouter:
    return NginxRouter(nginx_spec(upstream, [sys.executable, "-c", RECORD_RELOAD, str(reloads)]))


def reload_count(reloads: Path) -> int:
    return len(reloads.read_text().splitlines()) if reloads.exists() else 0


def server_lines(text: str) -> list[str]:
    return [line.split("#")[0].strip() for line in text.splitlines() if "server " in line]


# -- choosing a router ------------------------------------------------------------------


def test_local_router_does_nothing_and_sees_no_problem() -> None:
    router = make_router("local")
    assert isinstance(router, LocalRouter)
    router.apply(state(20))
    assert router.problem() is None


def test_nginx_setting_makes_an_nginx_router(upstream: Path) -> None:
    spec = NginxRouterSpec(nginx=nginx_spec(upstream, ["true"]))
    assert isinstance(make_router(spec), NginxRouter)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("canary", "nothost"),
        ("canary", "127.0.0.1:0"),
        ("stable", "127.0.0.1:65536"),
        ("stable", "bad host:80"),
        ("canary", "x;}server evil:80"),
        ("canary", str(STABLE)),
    ],
)
def test_bad_backend_addresses_are_refused(upstream: Path, field: str, value: str) -> None:
    with pytest.raises(ConfigError, match="router.nginx"):
        NginxRouter(nginx_spec(upstream, ["true"], **{field: value}))


# -- rendering --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "expected"),
    [
        (0, ["server 127.0.0.1:8001 weight=100 max_fails=2 fail_timeout=10s;"]),
        (
            20,
            [
                "server 127.0.0.1:8001 weight=80 max_fails=2 fail_timeout=10s;",
                "server 127.0.0.1:8002 weight=20 max_fails=2 fail_timeout=10s;",
            ],
        ),
        (100, ["server 127.0.0.1:8002 weight=100 max_fails=2 fail_timeout=10s;"]),
    ],
)
def test_weights_render_and_a_zero_weight_server_is_left_out(
    weight: int, expected: list[str]
) -> None:
    text = render_upstream(state(weight), STABLE, CANARY)
    assert server_lines(text) == expected
    assert "upstream mlrelease_breast_cancer_production {" in text
    assert "keepalive" in text and "weight=0" not in text


def test_without_a_canary_everything_goes_to_stable() -> None:
    text = render_upstream(state(0, canary=None), STABLE, CANARY)
    assert server_lines(text) == ["server 127.0.0.1:8001 weight=100 max_fails=2 fail_timeout=10s;"]


# -- apply: write, reload only on change ------------------------------------------------


def test_apply_writes_then_reloads_only_when_the_content_changed(
    router: NginxRouter, upstream: Path, reloads: Path
) -> None:
    router.apply(state(20))
    assert upstream.read_text() == render_upstream(state(20), STABLE, CANARY)
    assert reload_count(reloads) == 1
    router.apply(state(20))
    assert reload_count(reloads) == 1  # unchanged: no reload
    router.apply(state(50))
    assert reload_count(reloads) == 2
    assert sorted(path.name for path in upstream.parent.iterdir()) == [
        "reloads.log",
        "upstream.conf",
    ]  # no temporary file left behind


def test_readers_never_see_a_half_written_file(upstream: Path) -> None:
    router = NginxRouter(nginx_spec(upstream, ["true"]))
    router.apply(state(0))
    valid = {render_upstream(state(weight), STABLE, CANARY) for weight in (0, 37)}
    seen: set[str] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.add(upstream.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for index in range(60):
            router.apply(state(37 if index % 2 == 0 else 0))
    finally:
        done.set()
        reader.join(timeout=10)
    assert seen <= valid and seen


def test_a_failed_reload_raises_and_puts_the_previous_file_back(
    router: NginxRouter, upstream: Path
) -> None:
    router.apply(state(0))
    before = upstream.read_text()
    failing = NginxRouter(nginx_spec(upstream, [sys.executable, "-c", FAIL_RELOAD]))
    with pytest.raises(ConfigError, match=r"exited with 1: nginx: \[emerg\] unexpected end"):
        failing.apply(state(20))
    assert upstream.read_text() == before


def test_a_failed_first_reload_leaves_no_file(upstream: Path) -> None:
    failing = NginxRouter(nginx_spec(upstream, [sys.executable, "-c", FAIL_RELOAD]))
    with pytest.raises(ConfigError, match="previous upstream file was put back"):
        failing.apply(state(20))
    assert not upstream.exists()


def test_a_missing_reload_command_is_a_clear_error(upstream: Path) -> None:
    router = NginxRouter(nginx_spec(upstream, ["/nonexistent/nginx", "-s", "reload"]))
    with pytest.raises(ConfigError, match="cannot run .* install NGINX or set router.nginx.reload"):
        router.apply(state(20))


def test_a_missing_directory_points_to_deploy(tmp_path: Path) -> None:
    router = NginxRouter(nginx_spec(tmp_path / "absent" / "upstream.conf", ["true"]))
    with pytest.raises(ConfigError, match="mlrelease deploy nginx"):
        router.apply(state(20))


def test_a_shadow_is_refused_rather_than_silently_dropped(router: NginxRouter) -> None:
    shadowed = TrafficState("breast-cancer", "production", stable=1, shadow=2, shadow_share=10)
    with pytest.raises(ConfigError, match="does not mirror"):
        router.apply(shadowed)


# -- problem(): the canary's readiness ------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/v2/health/ready" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _router_with_canary_port(upstream: Path, port: int) -> NginxRouter:
    return NginxRouter(nginx_spec(upstream, ["true"], canary=f"127.0.0.1:{port}"))


def test_problem_is_none_while_the_canary_is_ready(
    upstream: Path, health_server: ThreadingHTTPServer
) -> None:
    assert _router_with_canary_port(upstream, health_server.server_port).problem() is None


def test_problem_says_the_canary_is_not_ready(
    upstream: Path, health_server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Health, "status", 503)
    port = health_server.server_port
    reason = _router_with_canary_port(upstream, port).problem()
    assert (
        reason
        == f"canary backend 127.0.0.1:{port} is not ready (GET /v2/health/ready answered 503)"
    )


def test_problem_names_a_canary_that_does_not_answer(upstream: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reason = _router_with_canary_port(upstream, port).problem()
    assert reason is not None
    assert reason.startswith(f"canary backend 127.0.0.1:{port} is not answering (")
