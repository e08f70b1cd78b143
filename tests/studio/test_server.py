"""The studio's API from outside: every endpoint, the token, traversal attempts, bad uploads, takes and section regenerates."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pretty_midi
import pytest
from fastapi.testclient import TestClient

from cmtlite.controls import VideoControls
from cmtlite.studio.projects import ProjectStore
from cmtlite.studio.server import create_app
from tests.conftest import SMALL_SOUNDFONT, needs_soundfont

pytestmark = needs_soundfont
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def studio(tmp_path_factory, model):
    store = ProjectStore(tmp_path_factory.mktemp("studio"), model=model, soundfont=SMALL_SOUNDFONT, max_upload_bytes=5_000_000)
    yield store, TestClient(create_app(store, TOKEN))
    store.close()


def wait(client, path, key="status", busy=("analyzing", "queued", "running"), timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while (body := client.get(path, headers=AUTH).json())[key] in busy:
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    return body


@pytest.fixture(scope="module")
def project(studio, bounce_clip):
    _, client = studio
    response = client.post("/api/projects", json={"video": str(bounce_clip)}, headers=AUTH)
    assert response.status_code == 201, response.text
    project = response.json()["id"]
    assert wait(client, f"/api/projects/{project}")["status"] == "ready"
    return project


@pytest.fixture(scope="module")
def take(studio, project):
    _, client = studio
    response = client.post(f"/api/projects/{project}/takes", json={"seed": 3}, headers=AUTH)
    assert response.status_code == 202, response.text
    take = response.json()["id"]
    assert wait(client, f"/api/projects/{project}/takes/{take}")["status"] == "ready"
    return take


def test_the_page_and_its_assets_are_local(studio):
    _, client = studio
    page = client.get("/")
    assert page.status_code == 200 and 'data-testid="timeline"' in page.text and "http" not in page.text.replace("http-equiv", "")
    for name in ("studio.js", "studio.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and "https://" not in asset.text


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/projects"), ("post", "/api/projects"), ("get", "/api/projects/{p}"), ("put", "/api/projects/{p}/controls"),
     ("get", "/api/projects/{p}/video"), ("post", "/api/projects/{p}/takes"), ("get", "/api/projects/{p}/takes/{t}"),
     ("get", "/api/projects/{p}/takes/{t}/soundtrack.wav"), ("get", "/api/projects/{p}/takes/{t}/stems/drums.wav")],
)
def test_every_api_call_needs_the_token(studio, project, take, method, path):
    _, client = studio
    url = path.format(p=project, t=take)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN[:-1]}):
        response = getattr(client, method)(url, headers=headers)
        assert response.status_code == 401 and response.json() == {"error": "missing or wrong token"}
    assert getattr(client, method)(f"{url}?token=nope").status_code == 401


def test_project_endpoints(studio, project, bounce_clip):
    _, client = studio
    body = client.get(f"/api/projects/{project}", headers=AUTH).json()
    assert body["status"] == "ready" and body["error"] is None and body["controls"]["n_bars"] >= 4
    assert any(p["id"] == project for p in client.get("/api/projects", headers=AUTH).json())
    video = client.get(f"/api/projects/{project}/video?token={TOKEN}")  # the player uses ?token=
    assert video.status_code == 200 and video.content == bounce_clip.read_bytes()
    ranged = client.get(f"/api/projects/{project}/video", headers={**AUTH, "Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100


def test_edited_controls_are_checked_and_kept(studio, bounce_clip, tmp_path):
    _, client = studio
    clip = tmp_path / "edit.mp4"
    shutil.copy(bounce_clip, clip)
    project = client.post("/api/projects", json={"video": str(clip)}, headers=AUTH).json()["id"]
    controls = wait(client, f"/api/projects/{project}")["controls"]
    controls["bars"][1]["density"] = 16
    controls["tempo_map"] = [{"bar": 0, "tempo_bpm": 100.0}, {"bar": 2, "tempo_bpm": 90.0}]
    response = client.put(f"/api/projects/{project}/controls", json=controls, headers=AUTH)
    assert response.status_code == 200, response.text
    saved = client.get(f"/api/projects/{project}", headers=AUTH).json()["controls"]
    assert saved["bars"][1]["density"] == 16 and VideoControls.from_json(saved).bar_tempos_bpm()[2] == 90.0
    controls["bars"][0]["density"] = 99
    bad = client.put(f"/api/projects/{project}/controls", json=controls, headers=AUTH)
    assert bad.status_code == 422 and "bars[0].density" in bad.json()["error"]
    assert client.put(f"/api/projects/{project}/controls", content=b"{not json", headers=AUTH).status_code == 422
    assert client.get(f"/api/projects/{project}", headers=AUTH).json()["controls"]["bars"][0]["density"] != 99


@pytest.mark.parametrize("body", [[], "x", None, 3, {"tempo_bpm": "fast"}, {"bars": [{"density": {}}]}])
def test_any_bad_controls_body_is_a_422(studio, project, body):
    _, client = studio
    response = client.put(f"/api/projects/{project}/controls", json=body, headers=AUTH)
    assert response.status_code == 422 and response.json()["error"]


def test_a_take_and_its_files(studio, project, take):
    _, client = studio
    body = client.get(f"/api/projects/{project}/takes/{take}", headers=AUTH).json()
    assert body["status"] == "ready" and body["error"] is None and body["seed"] == 3
    base = f"/api/projects/{project}/takes/{take}"
    midi = client.get(f"{base}/soundtrack.mid", headers=AUTH)
    wav = client.get(f"{base}/soundtrack.wav", headers=AUTH)
    mp4 = client.get(f"{base}/soundtrack.mp4", headers=AUTH)  # muxed on first request
    assert midi.content[:4] == b"MThd" and wav.content[:4] == b"RIFF" and mp4.content[4:8] == b"ftyp"
    assert client.get(f"/api/projects/{project}", headers=AUTH).json()["takes"][0]["id"] == take
    families = body["families"]
    assert families and client.get(f"{base}/stems/{families[0]}.wav", headers=AUTH).content[:4] == b"RIFF"
    silent = next(f for f in ("guitar", "strings", "piano", "bass", "drums") if f not in families) if len(families) < 5 else None
    if silent:
        assert client.get(f"{base}/stems/{silent}.wav", headers=AUTH).status_code == 404  # no silent stems
    assert client.get(f"{base}/soundtrack.ogg", headers=AUTH).status_code == 404


def _notes(content: bytes, tmp_path) -> list[tuple[float, str, int, float, int]]:
    """(start s, family, pitch, end s, velocity) of every note, sorted."""
    path = tmp_path / "n.mid"
    path.write_bytes(content)
    midi = pretty_midi.PrettyMIDI(str(path))
    return sorted((round(n.start, 4), i.name, n.pitch, round(n.end, 4), n.velocity) for i in midi.instruments for n in i.notes)


def test_regenerating_bars_changes_only_those_bars(studio, project, take, tmp_path):
    _, client = studio
    response = client.post(f"/api/projects/{project}/takes", json={"seed": 11, "from_take": take, "bars": [1, 2]}, headers=AUTH)
    assert response.status_code == 202, response.text
    new = response.json()["id"]
    body = wait(client, f"/api/projects/{project}/takes/{new}")
    assert body["status"] == "ready", body
    assert body["bars"] == [1, 2] and body["from_take"] == take
    controls = VideoControls.from_json(client.get(f"/api/projects/{project}", headers=AUTH).json()["controls"])
    edges = controls.timing().bar_starts_s
    old = _notes(client.get(f"/api/projects/{project}/takes/{take}/soundtrack.mid", headers=AUTH).content, tmp_path)
    fresh = _notes(client.get(f"/api/projects/{project}/takes/{new}/soundtrack.mid", headers=AUTH).content, tmp_path)

    def outside(notes):
        return [n for n in notes if not edges[1] - 0.06 <= n[0] < edges[3] - 0.06]  # microtiming moves a hit by < half a 16th

    assert outside(fresh) == outside(old)
    assert fresh != old


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"seed": "x"}, ["seed"]),
        ({"seed": 1, "bars": [0, 1]}, ["from_take"]),
        ({"seed": 1, "from_take": "0123456789ab", "bars": [0, 1]}, ["no such take"]),
        ({"seed": 1, "from_take": "{take}", "bars": [0, 999]}, ["not inside"]),
        ({"seed": 1, "from_take": "{take}", "bars": [2, 1]}, ["first <= last"]),
        ({"seed": 1, "instruments": ["kazoo"]}, ["kazoo"]),
        ({"seed": 1, "instruments": []}, ["empty"]),
        ({"seed": 1, "instruments": 3}, ["instruments"]),
        ({"seed": 1, "density_shift": 40}, ["density shift"]),
        ([1, 2], ["JSON object"]),
    ],
)
def test_bad_take_requests(studio, project, take, body, words):
    _, client = studio
    if isinstance(body, dict) and body.get("from_take") == "{take}":
        body = {**body, "from_take": take}
    response = client.post(f"/api/projects/{project}/takes", json=body, headers=AUTH)
    assert response.status_code in (404, 422), response.text
    for word in words:
        assert word in response.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/..%2F..%2Fetc%2Fpasswd",
        "/api/projects/%2e%2e/takes/x/soundtrack.wav",
        "/api/projects/{p}/takes/..%2F..%2Fproject.json/soundtrack.wav",
        "/api/projects/{p}/takes/{t}/..%2Ftake.json",
        "/api/projects/{p}/takes/{t}/%2e%2e%2f%2e%2e%2fcontrols.json",
        "/api/projects/{p}/takes/{t}/stems/..%2F..%2Fsoundtrack.wav",
        "/static/..%2Fstudio.py",
        "/static/%2e%2e%2fprojects.py",
    ],
)
def test_nothing_outside_the_workdir_is_served(studio, project, take, path):
    _, client = studio
    response = client.get(path.format(p=project, t=take), headers=AUTH)
    assert response.status_code == 404 and "error" in response.json()


def test_a_symlink_out_of_the_workdir_is_not_served(studio, bounce_clip, tmp_path):
    store, client = studio
    clip = tmp_path / "linked.mp4"
    shutil.copy(bounce_clip, clip)
    project = client.post("/api/projects", json={"video": str(clip)}, headers=AUTH).json()["id"]
    wait(client, f"/api/projects/{project}")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the browser")
    video = store.project_dir(project) / "video.mp4"
    video.unlink()
    video.symlink_to(secret)
    response = client.get(f"/api/projects/{project}/video", headers=AUTH)
    assert response.status_code == 404 and b"not for the browser" not in response.content


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"this is text, not a video\n" * 10, "not a readable video"), (b"", "empty file"), (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "")],
)
def test_bad_uploads_make_failed_projects_and_the_server_keeps_serving(studio, content, words):
    _, client = studio
    response = client.post("/api/projects", files={"file": ("bad.mp4", content, "video/mp4")}, headers=AUTH)
    assert response.status_code == 201, response.text
    body = wait(client, f"/api/projects/{response.json()['id']}")
    assert body["status"] == "failed" and words in body["error"] and body["controls"] is None
    assert client.get(f"/api/projects/{response.json()['id']}/video", headers=AUTH).status_code == 404
    assert client.get("/api/projects", headers=AUTH).status_code == 200


def test_an_upload_is_analyzed(studio, bounce_clip):
    _, client = studio
    with bounce_clip.open("rb") as fh:
        response = client.post("/api/projects", files={"file": ("upload.mp4", fh, "video/mp4")}, headers=AUTH)
    assert response.status_code == 201
    assert wait(client, f"/api/projects/{response.json()['id']}")["status"] == "ready"


def test_too_large_uploads_and_bad_paths_are_refused(studio, tmp_path):
    store, client = studio
    before = sorted(p.name for p in store.root.iterdir())
    big = client.post("/api/projects", files={"file": ("big.mp4", b"\x00" * 6_000_000, "video/mp4")}, headers=AUTH)
    assert big.status_code == 413 and "limit" in big.json()["error"]
    assert sorted(p.name for p in store.root.iterdir()) == before  # nothing half-written is left
    missing = client.post("/api/projects", json={"video": str(tmp_path / "none.mp4")}, headers=AUTH)
    assert missing.status_code == 422 and "none.mp4" in missing.json()["error"]
    assert client.post("/api/projects", json={"path": "x"}, headers=AUTH).status_code == 422
    assert client.get("/api/projects/0123456789ab", headers=AUTH).status_code == 404


def test_takes_queue_one_after_another(studio, project):
    store, client = studio
    ids = [client.post(f"/api/projects/{project}/takes", json={"seed": s}, headers=AUTH).json()["id"] for s in (21, 22)]
    first = client.get(f"/api/projects/{project}/takes/{ids[1]}", headers=AUTH).json()["status"]
    assert first in ("queued", "running", "ready")
    store.wait_idle()
    bodies = [client.get(f"/api/projects/{project}/takes/{i}", headers=AUTH).json() for i in ids]
    assert [b["status"] for b in bodies] == ["ready", "ready"]
    assert np.isfinite(bodies[0]["seconds"])


def test_the_command_refuses_bad_setups_in_one_line(tmp_path, model_file):
    import socket

    from tests.conftest import assert_bad_input, run

    (tmp_path / "file").write_text("not a folder")
    common = ["--no-browser", "--model", model_file, "--soundfont", SMALL_SOUNDFONT]
    assert_bad_input(run("studio", "--workdir", tmp_path / "file" / "sub", *common), "work folder")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert_bad_input(run("studio", tmp_path / "none.mp4", "--workdir", tmp_path / "w", "--port", free, *common), "none.mp4")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_bad_input(run("studio", "--workdir", tmp_path / "w", "--port", port, *common), f"127.0.0.1:{port}", "--port")
