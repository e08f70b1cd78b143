"""The studio page in a real browser (Debian's Chromium, driven by Playwright): edit, generate, regenerate a section, play."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest

from cmtlite.studio.projects import ProjectStore
from cmtlite.studio.server import create_app
from tests.conftest import SMALL_SOUNDFONT, needs_soundfont

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    needs_soundfont,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
]
TOKEN = "browser-test-token"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, model, bounce_clip):
    import uvicorn

    store = ProjectStore(tmp_path_factory.mktemp("studio_page"), model=model, soundfont=SMALL_SOUNDFONT)
    project = store.create_from_path(bounce_clip)
    store.wait_idle()
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(create_app(store, TOKEN), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "the studio server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/?token={TOKEN}", store, project
    uv.should_exit = True
    thread.join(timeout=10)
    store.close()


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server[0])
        page.wait_for_function("window.studio && window.studio.state.controls !== null", timeout=20_000)
        yield page
        browser.close()
    assert errors == [], errors  # the page ran without a console error


def _canvas_point(page, x: float, y: float) -> tuple[float, float]:
    box = page.get_by_test_id("timeline").bounding_box()
    return box["x"] + x, box["y"] + y


def test_edit_generate_regenerate_and_play(page, server):
    _, store, project = server
    assert page.get_by_test_id("video").evaluate("v => v.src").startswith("http://127.0.0.1")

    # drag bar 1's density to the top of its lane
    before = page.evaluate("window.studio.state.controls.bars[1].density")
    assert before != 16
    x = page.evaluate("window.studio.barX(1)")
    start = _canvas_point(page, x, page.evaluate("window.studio.laneY('density', 2)"))
    top = _canvas_point(page, x, page.evaluate("window.studio.laneY('density', 16)"))
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*top, steps=5)
    page.mouse.up()
    page.get_by_test_id("status").filter(has_text="controls saved").wait_for(timeout=10_000)
    assert store.get(project)["controls"]["bars"][1]["density"] == 16
    page.get_by_test_id("undo").click()
    page.wait_for_function(f"window.studio.state.controls.bars[1].density === {before}")
    page.get_by_test_id("redo").click()
    page.wait_for_function("window.studio.state.controls.bars[1].density === 16")

    # a take
    page.get_by_test_id("seed").fill("4")
    page.get_by_test_id("generate").click()
    page.wait_for_function("window.studio.state.takes.length === 1 && window.studio.state.takes[0].status === 'ready'", timeout=60_000)
    first = page.evaluate("window.studio.state.takes[0].id")

    # select bars 1..2 on the bar lane and regenerate them
    for bar, modifiers in ((1, []), (2, ["Shift"])):
        page.get_by_test_id("timeline").click(position={"x": page.evaluate(f"window.studio.barX({bar})"), "y": 8}, modifiers=modifiers)
    assert page.get_by_test_id("selection").inner_text() == "bars 1–2"
    page.get_by_test_id("regenerate").click()
    page.wait_for_function("window.studio.state.takes.length === 2 && window.studio.state.takes[1].status === 'ready'", timeout=60_000)
    second = page.evaluate("window.studio.state.takes[1]")
    assert second["from_take"] == first and second["bars"] == [1, 2]

    # the take plays, with the video
    page.get_by_test_id(f"play-{second['id']}").click()
    page.wait_for_function("document.querySelector('[data-testid=take-audio]').currentTime > 0.3", timeout=20_000)
    assert page.get_by_test_id("video").evaluate("v => !v.paused")
    assert page.get_by_test_id(f"download-{second['id']}-mp4").get_attribute("href").endswith(f"token={TOKEN}")
