"""The studio page in a real browser (Debian's Chromium, driven by Playwright): the transport, plan edits, the piano roll,
takes and projects."""

from __future__ import annotations

import shutil
import time

import pytest

from cmtlite.soundtrack import MusicOptions
from cmtlite.studio.projects import ProjectStore, TakeRequest
from cmtlite.studio.server import create_app, running
from tests.conftest import SMALL_SOUNDFONT, needs_soundfont

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    needs_soundfont,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"),
]
TOKEN = "browser-test-token"
MUSIC = "document.querySelector('[data-testid=music]')"
VIDEO = "document.querySelector('[data-testid=video]')"


@pytest.fixture(scope="module")
def server(tmp_path_factory, model, bounce_clip):
    store = ProjectStore(tmp_path_factory.mktemp("studio_page"), model=model, soundfont=SMALL_SOUNDFONT)
    project = store.create_from_path(bounce_clip)
    store.wait_idle()
    first = store.create_take(project, TakeRequest(music=MusicOptions(seed=1)))
    store.wait_idle()
    store.create_take(project, TakeRequest(music=MusicOptions(seed=2), from_take=first, bars=(1, 1)))
    store.wait_idle()
    with running(create_app(store, TOKEN)) as port:
        yield f"http://127.0.0.1:{port}", store, project
    store.close()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield browser
        browser.close()


def open_page(browser, url, errors, width=1440, height=900, wait_for_controls=True):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{url}/?token={TOKEN}")
    if wait_for_controls:
        page.wait_for_function("window.studio && window.studio.state.controls !== null && window.studio.state.current", timeout=30_000)
    return page


@pytest.fixture
def page(server, browser):
    errors: list[str] = []
    page = open_page(browser, server[0], errors)
    yield page
    assert errors == [], errors  # the page ran without a console error (no 404 of a stale take, no exception)


def _canvas_point(page, testid: str, x: float, y: float) -> tuple[float, float]:
    box = page.get_by_test_id(testid).bounding_box()
    return box["x"] + x, box["y"] + y


def until(check, timeout_s=30.0):
    """Wait until ``check()`` holds (the page saves in the background)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the page's edit did not reach the server"
        time.sleep(0.05)


def _in_step(page, timeout=10_000):
    """Wait until the take's audio is where the video is (within 0.1 s)."""
    page.wait_for_function(f"Math.abs({MUSIC}.currentTime - {VIDEO}.currentTime) <= 0.1", timeout=timeout)


def test_the_token_leaves_the_address_bar_and_no_media_url_carries_it(page):
    assert page.url.endswith("/") and "token" not in page.url
    for testid in ("video", "music"):
        src = page.get_by_test_id(testid).evaluate("e => e.src")
        assert src.startswith("http://127.0.0.1") and TOKEN not in src
    assert TOKEN not in page.content()


def test_the_video_drives_the_take(page):
    video, music = page.get_by_test_id("video"), page.get_by_test_id("music")
    assert "soundtrack.wav" in music.evaluate("m => m.src")
    page.keyboard.press("Space")  # play
    page.wait_for_function(f"!{VIDEO}.paused && !{MUSIC}.paused && {MUSIC}.currentTime > 0.3", timeout=20_000)
    _in_step(page)
    video.evaluate("v => { v.currentTime = 6.2; }")  # seek with the video's own bar
    page.wait_for_function(f"{VIDEO}.currentTime >= 6.2 && {VIDEO}.currentTime < 7.5", timeout=10_000)
    _in_step(page)
    for t in (2.0, 4.5, 3.1, 8.0):  # scrub: many seeks in a row
        video.evaluate(f"v => {{ v.currentTime = {t}; }}")
    _in_step(page)
    page.keyboard.press("Space")  # pause
    page.wait_for_function(f"{VIDEO}.paused && {MUSIC}.paused", timeout=10_000)
    x = page.evaluate("window.studio.timeX(3.0)")  # a click on the motion lane moves the playhead there
    page.mouse.click(*_canvas_point(page, "timeline", x, 120))
    page.wait_for_function(f"Math.abs({VIDEO}.currentTime - 3.0) < 0.1 && Math.abs({MUSIC}.currentTime - 3.0) < 0.1", timeout=10_000)
    assert music.evaluate("m => m.paused")
    start = page.evaluate("window.studio.state.controls.bars.map(b => b.start_s).find(s => s > 3.0 + 0.01)")
    page.keyboard.press("l")  # a bar on: the next bar line
    page.wait_for_function(f"Math.abs({VIDEO}.currentTime - {start}) < 0.05")
    page.keyboard.press("j")
    page.wait_for_function(f"{VIDEO}.currentTime < {start} - 0.5")
    _in_step(page)


def test_looping_the_selected_bars(page):
    page.get_by_test_id("timeline").click(position={"x": page.evaluate("window.studio.barX(2)"), "y": 8})
    assert page.get_by_test_id("selection").inner_text() == "bar 2"
    start, end = page.evaluate("[window.studio.state.controls.bars[2].start_s, window.studio.state.controls.bars[3].start_s]")
    page.get_by_test_id("loop").click()
    page.keyboard.press("Space")
    page.wait_for_function(f"{VIDEO}.currentTime > {end} - 0.4", timeout=20_000)  # near the end of the bar ...
    page.wait_for_function(f"!{VIDEO}.paused && {VIDEO}.currentTime < {start} + 0.4", timeout=20_000)  # ... it starts again
    _in_step(page)
    page.keyboard.press("Space")


def test_edit_generate_and_regenerate_from_a_chosen_parent(page, server):
    _, store, project = server
    before = page.evaluate("window.studio.state.controls.bars[1].density")
    x = page.evaluate("window.studio.barX(1)")
    level = 16 if before != 16 else 2
    page.mouse.move(*_canvas_point(page, "timeline", x, page.evaluate("window.studio.laneY('density', 8)")))
    page.mouse.down()
    page.mouse.move(*_canvas_point(page, "timeline", x, page.evaluate(f"window.studio.laneY('density', {level})")), steps=5)
    page.mouse.up()
    page.get_by_test_id("status").filter(has_text="controls saved").wait_for(timeout=10_000)
    assert store.get(project)["controls"]["bars"][1]["density"] == level
    page.keyboard.press("Control+z")
    page.wait_for_function(f"window.studio.state.controls.bars[1].density === {before}")
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function(f"window.studio.state.controls.bars[1].density === {level}")

    n = page.evaluate("window.studio.state.takes.length")
    page.get_by_test_id("seed").fill("4")
    page.get_by_test_id("generate").click()
    page.wait_for_function(f"window.studio.state.takes.length === {n + 1} && window.studio.state.takes[{n}].status === 'ready'",
                           timeout=90_000)
    first = page.evaluate(f"window.studio.state.takes[{n}].id")
    page.wait_for_function(f"window.studio.state.current === '{first}'")  # a new take becomes the one playing

    for bar, modifiers in ((1, []), (2, ["Shift"])):
        page.get_by_test_id("timeline").click(position={"x": page.evaluate(f"window.studio.barX({bar})"), "y": 8}, modifiers=modifiers)
    assert page.get_by_test_id("selection").inner_text() == "bars 1–2"
    parent = page.evaluate("window.studio.state.takes[0].id")  # not the playing take: the parent is chosen explicitly
    page.get_by_test_id("parent").select_option(parent)
    page.get_by_test_id("regenerate").click()
    page.wait_for_function(f"window.studio.state.takes.length === {n + 2} && window.studio.state.takes[{n + 1}].status === 'ready'",
                           timeout=90_000)
    made = page.evaluate(f"window.studio.state.takes[{n + 1}]")
    assert made["from_take"] == parent and made["bars"] == [1, 2]


def test_key_sections_chords_and_cuts_are_edited_on_the_timeline(page, server):
    _, store, project = server
    saved = lambda: store.get(project)["controls"]  # noqa: E731
    key = "D:min" if saved()["key"] != "D:min" else "F:maj"
    chords_before = saved()["chords"]
    page.get_by_test_id("key").select_option(key)
    until(lambda: saved()["key"] == key)
    assert saved()["chords"] != chords_before  # the chords were planned anew in that key
    page.wait_for_function(f"document.querySelector('[data-testid=chord-0]').textContent === '{saved()['chords'][0]['label']}'")

    page.get_by_test_id("section-0").click()  # rename, split, merge
    page.get_by_test_id("section-label").fill("Intro")
    page.get_by_test_id("section-label").press("Enter")
    page.wait_for_function("window.studio.state.controls.sections[0].label === 'Intro'")
    page.get_by_test_id("split-bar").fill("1")
    page.get_by_test_id("split").click()
    until(lambda: [s["start_bar"] for s in saved()["sections"]][:2] == [0, 1])
    assert saved()["sections"][0]["label"] == "Intro"
    page.get_by_test_id("section-1").click()
    page.get_by_test_id("merge").click()
    until(lambda: all(s["start_bar"] != 1 for s in saved()["sections"]))

    page.get_by_test_id("chord-1").click()  # a chord
    page.get_by_test_id("chord-label").fill("G:7")
    page.get_by_test_id("chord-label").press("Enter")
    page.wait_for_function("document.querySelector('[data-testid=chord-1]').textContent === 'G:7'")
    until(lambda: saved()["chords"][1]["label"] == "G:7")

    cuts = list(saved()["scene_cuts_s"])
    page.get_by_test_id("video").evaluate("v => { v.currentTime = 2.75; }")  # M adds a cut at the playhead
    page.wait_for_function(f"Math.abs({VIDEO}.currentTime - 2.75) < 0.05")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("m")
    until(lambda: len(saved()["scene_cuts_s"]) == len(cuts) + 1)
    refitted = saved()
    beats = [b["time_s"] for b in refitted["beats"]]
    assert all(min(abs(b - c) for b in beats) < 0.02 for c in refitted["scene_cuts_s"])  # the grid was fitted to the cuts again

    marker = page.get_by_test_id("cut-0").bounding_box()  # drag the first cut a little later
    page.mouse.move(marker["x"] + marker["width"] / 2, marker["y"] + 5)
    page.mouse.down()
    page.mouse.move(marker["x"] + marker["width"] / 2 + 25, marker["y"] + 5, steps=5)
    page.mouse.up()
    until(lambda: saved()["scene_cuts_s"][0] > refitted["scene_cuts_s"][0] + 0.05)
    page.get_by_test_id("cut-0").click()  # select it, then delete it
    page.get_by_test_id("delete-cut").click()
    until(lambda: len(saved()["scene_cuts_s"]) == len(cuts))
    for _ in range(2):  # undo the delete and the move: the refitted controls come back as they were
        page.keyboard.press("Control+z")
    until(lambda: saved()["scene_cuts_s"] == refitted["scene_cuts_s"])
    assert saved()["tempo_map"] == refitted["tempo_map"] and saved()["sections"] == refitted["sections"]


def test_the_piano_roll_and_mute_solo(page):
    drawn = page.get_by_test_id("pianoroll").evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        " for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200)) n++; return n; }")
    assert drawn > 200  # notes are drawn
    families = page.evaluate("window.studio.state.takes.find((t) => t.id === window.studio.state.current).families")
    assert families
    page.get_by_test_id(f"solo-{families[0]}").click()
    page.wait_for_function(f"{MUSIC}.src.endsWith('/mix/{families[0]}.wav')")
    page.wait_for_function(f"{MUSIC}.readyState >= 1", timeout=20_000)  # the mix is served
    page.get_by_test_id(f"solo-{families[0]}").click()
    page.wait_for_function(f"{MUSIC}.src.endsWith('/soundtrack.wav')")
    if len(families) > 1:
        page.get_by_test_id(f"mute-{families[-1]}").click()
        page.wait_for_function(f"{MUSIC}.src.includes('/mix/') && !{MUSIC}.src.includes('{families[-1]}')")


def test_takes_are_named_starred_compared_and_deleted(page, server):
    _, store, project = server
    rows = page.get_by_test_id("take")
    assert rows.count() >= 2 and all(rows.nth(i).get_by_test_id("play").count() == 1 for i in range(rows.count()))
    first, second = (rows.nth(i).get_attribute("data-take") for i in (0, 1))
    rows.nth(0).get_by_test_id("take-name").fill("calm opening")
    rows.nth(0).get_by_test_id("take-name").press("Enter")
    rows.nth(0).get_by_test_id("star").click()
    page.wait_for_function("window.studio.state.takes[0].starred === true")
    assert store.take(project, first)["name"] == "calm opening" and store.take(project, first)["starred"] is True

    rows.nth(0).get_by_test_id("mark-a").click()
    rows.nth(1).get_by_test_id("mark-b").click()
    page.get_by_test_id("video").evaluate("v => { v.currentTime = 5.0; }")
    page.wait_for_function(f"Math.abs({VIDEO}.currentTime - 5.0) < 0.05")
    before = page.evaluate("window.studio.state.current")
    page.get_by_test_id("ab-toggle").click()
    other = second if before == first else first
    page.wait_for_function(f"window.studio.state.current === '{other}' && {MUSIC}.src.includes('{other}')")
    _in_step(page)  # A/B switches at the playhead
    assert abs(page.evaluate(f"{VIDEO}.currentTime") - 5.0) < 0.05

    n = rows.count()
    delete = page.locator(f"[data-take='{second}']").get_by_test_id("delete")
    delete.click()
    assert store.take(project, second)["status"] == "ready"  # the first click only arms it
    page.locator(f"[data-take='{second}']").get_by_test_id("delete").click()
    page.wait_for_function(f"window.studio.state.takes.length === {n - 1}")
    assert all(t["id"] != second for t in store.get(project)["takes"])
    page.wait_for_function(f"!{MUSIC}.src.includes('{second}')")


def test_switching_projects_resets_the_page_and_failed_projects_wait(server, browser, bounce_clip, tmp_path):
    url, store, project = server
    clip = tmp_path / "other.mp4"
    shutil.copy(bounce_clip, clip)
    other = store.create_from_path(clip)
    store.wait_idle()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all\n" * 20)
    failed = store.create_from_path(broken)  # the newest project, and a failed one
    store.wait_idle()
    errors: list[str] = []
    page = open_page(browser, url, errors, wait_for_controls=False)
    page.wait_for_function("window.studio && window.studio.state.controls !== null", timeout=30_000)
    opened = page.evaluate("window.studio.state.project")
    assert opened != failed and opened == other  # failed projects are listed, not opened
    assert "failed" in page.get_by_test_id("projects").locator(f"option[value='{failed}']").inner_text()

    page.get_by_test_id("projects").select_option(project)
    page.wait_for_function(f"window.studio.state.project === '{project}' && window.studio.state.current !== null", timeout=20_000)
    page.get_by_test_id("timeline").click(position={"x": page.evaluate("window.studio.barX(1)"), "y": 8})
    rows = page.get_by_test_id("take")
    rows.nth(0).get_by_test_id("mark-a").click()
    page.get_by_test_id("projects").select_option(other)  # A/B, selection, take and notes belong to the old project
    page.wait_for_function(f"window.studio.state.project === '{other}' && window.studio.state.controls !== null", timeout=20_000)
    assert page.get_by_test_id("selection").inner_text() == "none"
    assert page.evaluate("window.studio.state.abPair") == [None, None] and page.get_by_test_id("take").count() == 0
    assert other in page.get_by_test_id("video").evaluate("v => v.src") and not page.get_by_test_id("music").evaluate("m => m.src")
    assert page.get_by_test_id("regenerate").is_disabled() and page.get_by_test_id("ab-toggle").is_disabled()

    page.get_by_test_id("delete-project").click()
    page.get_by_test_id("delete-project").click()
    page.wait_for_function(f"window.studio.state.project !== '{other}'", timeout=20_000)
    assert other not in [p["id"] for p in store.list()]
    store.delete(failed)
    time.sleep(0.2)
    assert errors == [], errors


def test_an_empty_start_explains_itself_and_nothing_overflows(tmp_path, model, server, browser):
    store = ProjectStore(tmp_path / "empty", model=model, soundfont=SMALL_SOUNDFONT)
    errors: list[str] = []
    with running(create_app(store, TOKEN)) as port:
        page = open_page(browser, f"http://127.0.0.1:{port}", errors, wait_for_controls=False)
        page.get_by_test_id("empty").wait_for(timeout=10_000)
        assert "Drop a video" in page.get_by_test_id("empty").inner_text() and page.locator("#workspace").is_hidden()
    store.close()
    for width in (1280, 1440, 1920):  # the working page of a project with takes fits every width
        page = open_page(browser, server[0], errors, width=width, height=900)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for testid in ("takes", "timeline", "pianoroll", "sections"):
            box = page.get_by_test_id(testid).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (testid, width)
        assert page.get_by_test_id("takes").evaluate("e => getComputedStyle(e).overflowY") == "auto"  # a long list scrolls
        page.close()
    assert errors == [], errors
