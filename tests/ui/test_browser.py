"""The UI in a real browser: Debian's chromium driven by Playwright, against `mlrelease serve`.

A person logs in with a token, approves a waiting promotion and sees production
change, aborts a canary release and sees all traffic back on the stable version,
and every page is photographed (PNG files under ``test-artifacts/ui/``, kept out
of git) so a change in how the pages look can be seen.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..processes import free_port, start_cli, stop, wait_ready
from ._scene import IRIS, MODEL, Scene, build_scene

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


def _chromium() -> str:
    """Debian's chromium; skip without it, except under CI (CI=true): fail."""
    if shutil.which(CHROMIUM):
        return CHROMIUM
    reason = f"{CHROMIUM} not found (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Scene]]:
    """The scene served for real: production's model on /predict, the UI on /ui."""
    scene = build_scene(tmp_path_factory.mktemp("browser"))
    port = free_port()
    log = scene.folder / "serve.log"
    process = start_cli(
        ["serve", "--model", MODEL, "--env", "production", "--port", str(port)],
        cwd=scene.folder,
        log=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield url, scene
    finally:
        stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = _chromium()
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    try:
        yield context.new_page()
    finally:
        context.close()


def _log_in(page: object, url: str, secret: str) -> None:
    page.goto(f"{url}/ui/")  # type: ignore[attr-defined]
    assert "/ui/login" in page.url  # type: ignore[attr-defined]
    page.fill("#token", secret)  # type: ignore[attr-defined]
    page.click("button:has-text('Log in')")  # type: ignore[attr-defined]
    page.wait_for_selector("text=Logged in as")  # type: ignore[attr-defined]


def _shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_an_approver_approves_and_production_changes(
    served: tuple[str, Scene], page: object
) -> None:
    url, scene = served
    p = page
    _log_in(p, url, scene.secrets["lead"])
    card = p.locator(f"section[data-model='{IRIS}'] [data-env='production']")  # type: ignore[attr-defined]
    assert card.inner_text().strip().endswith("-")
    p.click("nav >> text=Approvals")  # type: ignore[attr-defined]
    request = p.locator(f"#request-{scene.waiting_request}")  # type: ignore[attr-defined]
    assert "iris" in request.inner_text()
    _shot(p, "approvals")
    request.locator("input[name='reason']").first.fill("checked the evidence")
    request.locator("button:has-text('Approve')").click()
    p.wait_for_selector(".flash")  # type: ignore[attr-defined]
    assert "production" in p.locator(".flash").first.inner_text()  # type: ignore[attr-defined]
    p.click("nav >> text=Overview")  # type: ignore[attr-defined]
    assert card.inner_text().strip().endswith("v1")


def test_an_operator_aborts_the_canary_and_traffic_is_back_on_stable(
    served: tuple[str, Scene], page: object, browser: object
) -> None:
    url, scene = served
    release = f"{url}/ui/releases/{scene.release_id}"
    # Someone else watches the release in another browser, without reloading.
    watching = browser.new_context().new_page()  # type: ignore[attr-defined]
    _log_in(watching, url, scene.secrets["viewer"])
    watching.goto(release)
    assert "progressing" in watching.locator("main h1").inner_text()
    p = page
    _log_in(p, url, scene.secrets["ci"])
    p.goto(release)  # type: ignore[attr-defined]
    assert p.locator("main").get_attribute("data-live")  # type: ignore[attr-defined]
    _shot(p, "release")
    form = p.locator("form:has(button:has-text('Abort'))")  # type: ignore[attr-defined]
    form.locator("input[name='reason']").fill("latency too high")
    form.locator("button:has-text('Abort')").click()
    p.wait_for_selector(".flash")  # type: ignore[attr-defined]
    main = p.locator("main").inner_text()  # type: ignore[attr-defined]
    assert "aborted" in main
    assert p.locator("main").get_attribute("data-live") is None  # type: ignore[attr-defined]
    _shot(p, "release-aborted")
    # The watcher's page refreshed itself (live.js), and stops asking once it is final.
    watching.locator("main h1:has-text('aborted')").wait_for(timeout=15_000)
    assert watching.locator("main").get_attribute("data-live") is None
    watching.context.close()
    # The server follows the traffic table within a second: then v1 answers everything.
    time.sleep(1.5)
    with httpx.Client(base_url=url, timeout=5) as http:
        answers = [http.post("/predict", json={"instances": [[14.0] * 30]}) for _ in range(30)]
    assert {answer.json()["version"] for answer in answers} == {1}


def test_every_page_renders_and_is_photographed(served: tuple[str, Scene], page: object) -> None:
    url, scene = served
    p = page
    _log_in(p, url, scene.secrets["root"])
    pages = {
        "overview": "/ui/",
        "model": f"/ui/models/{MODEL}",
        "version": f"/ui/models/{MODEL}/versions/2",
        "compare": f"/ui/models/{MODEL}/compare?a=1&b=2",
        "releases": "/ui/releases",
        "monitoring": f"/ui/models/{MODEL}/monitoring",
        "history": f"/ui/history?model={MODEL}",
        "try": f"/ui/models/{MODEL}/try",
    }
    for name, path in pages.items():
        answer = p.goto(url + path)  # type: ignore[attr-defined]
        assert answer is not None and answer.status == 200, (name, answer and answer.status)
        assert p.locator("h1").count() >= 1, name  # type: ignore[attr-defined]
        _shot(p, name)
    p.goto(f"{url}/ui/models/{MODEL}")  # type: ignore[attr-defined]
    p.locator("a[href^='/ui/runs/']").first.click()  # type: ignore[attr-defined]
    assert p.locator("h1").count() == 1  # type: ignore[attr-defined]
    _shot(p, "run")
    p.goto(f"{url}/ui/models/{MODEL}/try")  # type: ignore[attr-defined]
    p.locator("form:has(button:has-text('Predict')) button:has-text('Predict')").click()  # type: ignore[attr-defined]
    p.wait_for_selector("text=Prediction")  # type: ignore[attr-defined]
    assert "v1" in p.locator("main").inner_text()  # type: ignore[attr-defined]
    _shot(p, "try-answered")


def test_a_viewer_sees_no_buttons(served: tuple[str, Scene], page: object) -> None:
    url, scene = served
    p = page
    _log_in(p, url, scene.secrets["viewer"])
    for path in ("/ui/approvals", f"/ui/releases/{scene.release_id}"):
        p.goto(url + path)  # type: ignore[attr-defined]
        buttons = p.locator("main button").all_inner_texts()  # type: ignore[attr-defined]
        for label in ("Approve", "Reject", "Pause", "Resume", "Promote", "Abort"):
            assert label not in buttons, (path, label)
