"""The studio's API from outside: every endpoint, the token and its cookie, Host and Origin checks, body limits, traversal
attempts, bad uploads, the background import, takes (one mastering gain, linked regenerates), edits that refit the grid."""

from __future__ import annotations

import io
import json
import select
import shutil
import socket
import threading
import time

import numpy as np
import pretty_midi
import pytest
from fastapi.testclient import TestClient
from scipy.io import wavfile

from cmtlite.controls import VideoControls
from cmtlite.studio import projects as projects_module
from cmtlite.studio.projects import ProjectStore
from cmtlite.studio.server import MAX_JSON_BYTES, allowed_hosts, create_app, running
from cmtlite.tokens.vocab import FAMILIES
from tests.conftest import SMALL_SOUNDFONT, needs_soundfont

pytestmark = needs_soundfont
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def studio(tmp_path_factory, model):
    store = ProjectStore(tmp_path_factory.mktemp("studio"), model=model, soundfont=SMALL_SOUNDFONT, max_upload_bytes=5_000_000)
    yield store, TestClient(create_app(store, TOKEN), base_url=BASE)
    store.close()


BASE = "http://127.0.0.1:8765"


def wait(client, path, key="status", busy=("importing", "analyzing", "queued", "running"), timeout_s=120):
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
    [("get", "/api/info"), ("get", "/api/projects"), ("post", "/api/projects"), ("get", "/api/projects/{p}"),
     ("delete", "/api/projects/{p}"), ("put", "/api/projects/{p}/controls"), ("get", "/api/projects/{p}/video"),
     ("post", "/api/projects/{p}/takes"), ("get", "/api/projects/{p}/takes/{t}"), ("patch", "/api/projects/{p}/takes/{t}"),
     ("delete", "/api/projects/{p}/takes/{t}"), ("get", "/api/projects/{p}/takes/{t}/notes"),
     ("get", "/api/projects/{p}/takes/{t}/soundtrack.wav"), ("get", "/api/projects/{p}/takes/{t}/stems/drums.wav"),
     ("get", "/api/projects/{p}/takes/{t}/mix/drums.wav")],
)
def test_every_api_call_needs_the_token(studio, project, take, method, path):
    _, client = studio
    url = path.format(p=project, t=take)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN[:-1]}, {"Authorization": f"Basic {TOKEN}"}):
        response = client.request(method, url, headers=headers)
        assert response.status_code == 401 and "token" in response.json()["error"]
    assert client.request(method, f"{url}?token=wrong").status_code == 401
    assert client.get(f"/api/projects/{project}", headers=AUTH).status_code == 200  # nothing was deleted


def test_a_script_may_pass_the_token_in_the_query(studio):
    _, client = studio
    assert client.get(f"/api/projects?token={TOKEN}").status_code == 200  # the page itself never does: its URLs stay clean
    assert client.get("/api/projects?token=wrong").status_code == 401


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_scheme_is_case_insensitive(studio, scheme):
    _, client = studio
    assert client.get("/api/projects", headers={"Authorization": f"{scheme} {TOKEN}"}).status_code == 200


def test_the_token_link_sets_a_strict_cookie_and_redirects_to_the_clean_url(studio):
    store, _ = studio
    client = TestClient(create_app(store, TOKEN), base_url=BASE, follow_redirects=False)
    assert client.get("/api/projects").status_code == 401
    assert client.get("/?token=wrong").status_code == 401
    response = client.get(f"/?token={TOKEN}")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert client.get("/api/projects").status_code == 200  # the cookie alone opens the API
    page = client.get("/")
    assert page.status_code == 200 and TOKEN not in page.text


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "localhost.:8765", ""])
def test_other_hosts_are_refused(studio, host):
    _, client = studio
    for path in ("/", "/api/projects", "/static/studio.js"):
        response = client.get(path, headers={**AUTH, "Host": host})
        assert response.status_code == 403 and "host" in response.json()["error"]


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:9000", "[::1]:8765", "LOCALHOST"])
def test_local_hosts_are_served(studio, host):
    _, client = studio
    assert client.get("/api/projects", headers={**AUTH, "Host": host}).status_code == 200


def test_the_given_host_is_served_too():
    assert "studio.lan" in allowed_hosts("studio.lan") and "127.0.0.1" in allowed_hosts("studio.lan")
    assert "evil.example" not in allowed_hosts("0.0.0.0")


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:9999"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_state_changes_from_other_origins_are_refused(studio, project, take, headers):
    _, client = studio
    for method, path in (("post", "/api/projects"), ("put", f"/api/projects/{project}/controls"),
                         ("patch", f"/api/projects/{project}/takes/{take}"), ("delete", f"/api/projects/{project}/takes/{take}"),
                         ("delete", f"/api/projects/{project}")):
        response = client.request(method, path, headers={**AUTH, **headers}, json={"name": "x"})
        assert response.status_code == 403 and "origin" in response.json()["error"]
    assert client.get(f"/api/projects/{project}", headers={**AUTH, **headers}).status_code == 200  # reading is not a change
    own = client.patch(f"/api/projects/{project}/takes/{take}", headers={**AUTH, "Origin": BASE}, json={"starred": False})
    assert own.status_code == 200


@pytest.fixture(scope="module")
def live(studio):
    """The studio app on a real uvicorn server (the test client reads a streamed body whole before sending it)."""
    store, _ = studio
    with running(create_app(store, TOKEN)) as port:
        yield port


def send_chunked(port, method, path, content_type, chunks):
    """Send a chunked request chunk by chunk until the server answers; returns (status, answer, bytes of body sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall((f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
                      f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
        for chunk in chunks:
            if select.select([conn], [], [], 0)[0]:
                break  # the server has answered
            try:
                conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except OSError:
                break
            sent += len(chunk)
        else:
            conn.sendall(b"0\r\n\r\n")
        conn.settimeout(20)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = conn.recv(65536)
            if not data:
                break
            answer += data
    return int(answer.split(b" ", 2)[1]), answer, sent


def test_json_bodies_are_cut_at_the_limit(studio, project, live):
    _, client = studio
    big = b'{"x": "' + b"a" * (MAX_JSON_BYTES + 10) + b'"}'
    declared = client.put(f"/api/projects/{project}/controls", content=big, headers={**AUTH, "Content-Type": "application/json"})
    assert declared.status_code == 413 and "limit" in declared.json()["error"]
    status, answer, sent = send_chunked(live, "PUT", f"/api/projects/{project}/controls", "application/json",
                                        (b" " * (1 << 20) for _ in range(300)))  # 300 MB, no length declared
    assert status == 413 and b"limit" in answer and sent < 100 << 20  # cut near the limit, not read to the end
    assert client.get(f"/api/projects/{project}", headers=AUTH).json()["controls"] is not None


def test_a_chunked_upload_is_counted_while_it_streams(studio, live):
    store, client = studio
    before = sorted(p.name for p in store.root.iterdir())

    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
        for _ in range(300):  # 300 MB, over the 5 MB limit
            yield b"\x00" * (1 << 20)
        yield b"\r\n--b--\r\n"

    status, answer, sent = send_chunked(live, "POST", "/api/projects", "multipart/form-data; boundary=b", body())
    assert status == 413 and b"limit" in answer and sent < 100 << 20
    assert sorted(p.name for p in store.root.iterdir()) == before  # nothing half-written is left


def test_project_endpoints(studio, project, bounce_clip):
    _, client = studio
    body = client.get(f"/api/projects/{project}", headers=AUTH).json()
    assert body["status"] == "ready" and body["error"] is None and body["controls"]["n_bars"] >= 4
    assert any(p["id"] == project for p in client.get("/api/projects", headers=AUTH).json())
    video = client.get(f"/api/projects/{project}/video", headers=AUTH)
    assert video.status_code == 200 and video.content == bounce_clip.read_bytes()
    info = client.get("/api/info", headers=AUTH).json()
    assert info["families"] == list(FAMILIES) and "D:min" in info["keys"] and len(info["keys"]) == 24
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
        ({"seed": 1, "linked": True}, ["linked"]),
        ({"seed": 1, "from_take": "{take}", "bars": [1, 2], "linked": "yes"}, ["linked"]),
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
    store, client = studio
    response = client.post("/api/projects", files={"file": ("bad.mp4", content, "video/mp4")}, headers=AUTH)
    assert response.status_code == 201, response.text
    body = wait(client, f"/api/projects/{response.json()['id']}")
    assert body["status"] == "failed" and words in body["error"] and body["controls"] is None
    assert str(store.root) not in body["error"] and "projects/" not in body["error"]  # errors name no server path
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
    assert missing.status_code == 422 and "none.mp4" in missing.json()["error"] and str(tmp_path) not in missing.json()["error"]
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


def new_project(client, clip, tmp_path, name="clip.mp4"):
    copy = tmp_path / name
    shutil.copy(clip, copy)
    project = client.post("/api/projects", json={"video": str(copy)}, headers=AUTH).json()["id"]
    assert wait(client, f"/api/projects/{project}")["status"] == "ready"
    return project


def make_take(client, project, body):
    response = client.post(f"/api/projects/{project}/takes", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    take = response.json()["id"]
    assert wait(client, f"/api/projects/{project}/takes/{take}")["status"] == "ready"
    return take


def test_takes_are_named_starred_and_deleted(studio, project):
    store, client = studio
    take = make_take(client, project, {"seed": 8})
    url = f"/api/projects/{project}/takes/{take}"
    named = client.patch(url, json={"name": "  chase   v2 ", "starred": True}, headers=AUTH)
    assert named.status_code == 200 and named.json()["name"] == "chase v2" and named.json()["starred"] is True
    assert client.get(url, headers=AUTH).json()["starred"] is True
    for bad in ({"name": 3}, {"starred": "yes"}, {"colour": "red"}, {}, [], {"name": "x" * 201}):
        assert client.patch(url, json=bad, headers=AUTH).status_code == 422
    folder = store.take_dir(project, take)
    assert client.delete(url, headers=AUTH).status_code == 204
    assert not folder.exists()
    assert client.get(url, headers=AUTH).status_code == 404
    assert client.get(f"{url}/soundtrack.wav", headers=AUTH).status_code == 404
    assert client.delete(url, headers=AUTH).status_code == 404
    assert client.patch(url, json={"name": "x"}, headers=AUTH).status_code == 404


def test_a_project_is_deleted_with_its_folder(studio, bounce_clip, tmp_path):
    store, client = studio
    project = new_project(client, bounce_clip, tmp_path)
    make_take(client, project, {"seed": 1})
    folder = store.project_dir(project)
    assert client.delete(f"/api/projects/{project}", headers=AUTH).status_code == 204
    assert not folder.exists()
    assert client.get(f"/api/projects/{project}", headers=AUTH).status_code == 404
    assert all(p["id"] != project for p in client.get("/api/projects", headers=AUTH).json())
    assert client.delete(f"/api/projects/{project}", headers=AUTH).status_code == 404


def test_notes_and_family_mixes_of_a_take(studio, project, take):
    _, client = studio
    base = f"/api/projects/{project}/takes/{take}"
    notes = client.get(f"{base}/notes", headers=AUTH).json()
    assert notes["families"] == list(FAMILIES) and notes["notes"]
    assert {n[0] for n in notes["notes"]} == set(client.get(base, headers=AUTH).json()["families"])
    family = notes["notes"][0][0]
    alone = client.get(f"{base}/mix/{family}.wav", headers=AUTH)
    assert alone.status_code == 200 and alone.content[:4] == b"RIFF"
    full = client.get(f"{base}/soundtrack.wav", headers=AUTH).content
    assert len(alone.content) == len(full) and alone.content != full  # the same length, fewer families
    everything = "+".join(FAMILIES)
    assert client.get(f"{base}/mix/{everything}.wav", headers=AUTH).content == full
    for bad in ("kazoo", "drums+drums", "", "drums+"):
        assert client.get(f"{base}/mix/{bad}.wav", headers=AUTH).status_code == 404


def _wav(client, project, take):
    content = client.get(f"/api/projects/{project}/takes/{take}/soundtrack.wav", headers=AUTH).content
    return wavfile.read(io.BytesIO(content))[1]


def test_one_mastering_gain_so_a_regenerate_is_sample_identical_before_its_bars(studio, project, take):
    _, client = studio
    new = make_take(client, project, {"seed": 12, "from_take": take, "bars": [2, 3]})
    parent, child = (client.get(f"/api/projects/{project}/takes/{t}", headers=AUTH).json() for t in (take, new))
    assert child["gain_db"] == parent["gain_db"]
    fresh = client.get(f"/api/projects/{project}/takes/{make_take(client, project, {'seed': 13})}", headers=AUTH).json()
    assert fresh["gain_db"] == parent["gain_db"]  # one gain per project
    start_s = VideoControls.from_json(client.get(f"/api/projects/{project}", headers=AUTH).json()["controls"]).timing().bar_starts_s[2]
    a, b = _wav(client, project, take), _wav(client, project, new)
    kept = int((start_s - 0.15) * 44100)  # microtiming (< half a 16th) and the limiter's look-ahead (50 ms) before the bar line
    assert len(a) == len(b) and kept > 44100
    np.testing.assert_array_equal(a[:kept], b[:kept])
    assert not np.array_equal(a, b)


def _sections(client, project, sections):
    controls = client.get(f"/api/projects/{project}", headers=AUTH).json()["controls"]
    controls["sections"] = sections
    response = client.put(f"/api/projects/{project}/controls", json=controls, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()["controls"]


def test_a_linked_regenerate_changes_every_section_with_the_label(studio, bounce_clip, tmp_path):
    _, client = studio
    project = new_project(client, bounce_clip, tmp_path)
    controls = _sections(client, project, [{"start_bar": 0, "label": "A"}, {"start_bar": 2, "label": "A"}, {"start_bar": 4, "label": "C"}])
    assert controls["n_bars"] >= 5
    chords = {(c["bar"], c["beat"]): c["label"] for c in controls["chords"]}
    assert chords[(0, 0)] == chords[(2, 0)]  # a returning label repeats its chords (bar 3 is the cadence)
    take = make_take(client, project, {"seed": 2})
    linked = make_take(client, project, {"seed": 5, "from_take": take, "bars": [0, 0], "linked": True})
    assert client.get(f"/api/projects/{project}/takes/{linked}", headers=AUTH).json()["linked"] is True
    edges = VideoControls.from_json(controls).timing().bar_starts_s
    old = _notes(client.get(f"/api/projects/{project}/takes/{take}/soundtrack.mid", headers=AUTH).content, tmp_path)
    new = _notes(client.get(f"/api/projects/{project}/takes/{linked}/soundtrack.mid", headers=AUTH).content, tmp_path)

    def bar(notes, b):
        return [n for n in notes if edges[b] - 0.06 <= n[0] < edges[b + 1] - 0.06]

    assert bar(new, 0) != bar(old, 0) and bar(new, 2) != bar(old, 2)  # both occurrences made anew
    for b in range(controls["n_bars"]):
        if b not in (0, 2):
            assert bar(new, b) == bar(old, b)
    across = client.post(f"/api/projects/{project}/takes", json={"seed": 1, "from_take": take, "bars": [1, 2], "linked": True},
                         headers=AUTH)
    assert across.status_code == 422 and "one section" in across.json()["error"]


def test_a_new_key_and_new_sections_replan_the_chords(studio, bounce_clip, tmp_path):
    _, client = studio
    project = new_project(client, bounce_clip, tmp_path)
    controls = client.get(f"/api/projects/{project}", headers=AUTH).json()["controls"]
    key = "D:min" if controls["key"] != "D:min" else "F:maj"
    response = client.put(f"/api/projects/{project}/controls", json={**controls, "key": key}, headers=AUTH)
    replanned = response.json()["controls"]
    assert response.status_code == 200 and replanned["key"] == key and replanned["chords"] != controls["chords"]
    assert replanned["chords"][-1]["label"] == key  # the piece ends on the tonic
    edited = [{**c, "label": "G:7"} if i == 1 else c for i, c in enumerate(replanned["chords"])]
    kept = client.put(f"/api/projects/{project}/controls", json={**replanned, "chords": edited}, headers=AUTH).json()["controls"]
    assert kept["chords"] == edited  # a chord edit is kept as sent
    bad = client.put(f"/api/projects/{project}/controls", json={**replanned, "chords": [{"bar": 0, "label": "H:maj"}]}, headers=AUTH)
    assert bad.status_code == 422 and "chord" in bad.json()["error"]


def test_edited_cuts_refit_the_grid_and_the_sections_follow(studio, bounce_clip, tmp_path):
    _, client = studio
    project = new_project(client, bounce_clip, tmp_path)
    before = client.get(f"/api/projects/{project}", headers=AUTH).json()["controls"]
    assert before["scene_cuts_s"] == [4.2, 7.8]
    cuts = [2.75, 4.2, 7.8]  # a new cut off the grid
    response = client.put(f"/api/projects/{project}/controls", json={**before, "scene_cuts_s": cuts}, headers=AUTH)
    assert response.status_code == 200, response.text
    after = VideoControls.from_json(response.json()["controls"])
    assert list(after.scene_cuts_s) == cuts and after.tempo_map != VideoControls.from_json(before).tempo_map
    for cut in cuts:
        assert np.abs(after.timing().beat_times_s() - cut).min() < 0.02  # every cut on a beat
    assert all(v.is_cut for v in after.visual_beats if any(abs(v.time_s - c) < 1e-3 for c in cuts))
    assert after.chords and after.chords[0].bar == 0 and after.sections[0].start_bar == 0
    undo = client.put(f"/api/projects/{project}/controls", json=before, headers=AUTH).json()["controls"]
    assert undo == before  # an undo sends the earlier controls whole: they come back as they were
    moved = [5.3, 7.8]  # the first cut moved later: its shot (5.3 s) is two bars long, so the cut goes on a bar line
    after = VideoControls.from_json(client.put(f"/api/projects/{project}/controls", json={**before, "scene_cuts_s": moved},
                                               headers=AUTH).json()["controls"])
    lines = after.timing().bar_starts_s
    assert np.abs(lines - 5.3).min() < 0.02
    starts = [s.start_bar for s in after.sections]  # sections are phrases: a 2-bar shot starts none, and the piece is 5 bars
    assert starts[0] == 0 and all(b - a in (4, 8) for a, b in zip(starts, starts[1:], strict=False))


def test_a_path_import_answers_at_once_and_copies_in_the_background(tmp_path, model, bounce_clip, monkeypatch):
    store = ProjectStore(tmp_path / "work", model=model, soundfont=SMALL_SOUNDFONT, link_imports=False)
    client = TestClient(create_app(store, TOKEN), base_url=BASE)
    release, copying = threading.Event(), threading.Event()
    copy = ProjectStore._copy

    def held_copy(self, project, source, target):  # the copy starts, then waits until the test has checked the server
        copying.set()
        assert release.wait(60)
        copy(self, project, source, target)

    monkeypatch.setattr(ProjectStore, "_copy", held_copy)
    monkeypatch.setattr(projects_module, "_COPY_CHUNK", 4096)  # many chunks: the progress moves
    response = client.post("/api/projects", json={"video": str(bounce_clip)}, headers=AUTH)
    assert response.status_code == 201  # answered while the copy has not even started to move bytes
    project = response.json()["id"]
    assert copying.wait(10)
    body = client.get(f"/api/projects/{project}", headers=AUTH).json()
    assert body["status"] == "importing" and body["progress"] == {"stage": "import", "done": 0, "total": bounce_clip.stat().st_size}
    assert client.get("/api/projects", headers=AUTH).json()[0]["status"] == "importing"  # other requests are served meanwhile
    assert client.get("/api/info", headers=AUTH).status_code == 200
    release.set()
    assert wait(client, f"/api/projects/{project}")["status"] == "ready"
    video = store.project_dir(project) / "video.mp4"
    assert video.read_bytes() == bounce_clip.read_bytes() and video.stat().st_ino != bounce_clip.stat().st_ino  # a copy
    store.close()


def test_a_path_import_is_a_hard_link_where_it_can_be(studio, bounce_clip, tmp_path):
    store, client = studio
    clip = tmp_path / "linked.mp4"
    shutil.copy(bounce_clip, clip)
    project = client.post("/api/projects", json={"video": str(clip)}, headers=AUTH).json()["id"]
    assert wait(client, f"/api/projects/{project}")["status"] == "ready"
    video = store.project_dir(project) / "video.mp4"
    if video.stat().st_dev == clip.stat().st_dev:
        assert video.stat().st_ino == clip.stat().st_ino


def test_a_project_deleted_during_its_import_leaves_nothing(tmp_path, model, bounce_clip, monkeypatch):
    store = ProjectStore(tmp_path / "work", model=model, soundfont=SMALL_SOUNDFONT, link_imports=False)
    client = TestClient(create_app(store, TOKEN), base_url=BASE)
    release = threading.Event()
    copy = ProjectStore._copy
    monkeypatch.setattr(ProjectStore, "_copy", lambda self, *args: (release.wait(60), copy(self, *args)))
    project = client.post("/api/projects", json={"video": str(bounce_clip)}, headers=AUTH).json()["id"]
    assert client.delete(f"/api/projects/{project}", headers=AUTH).status_code == 204
    release.set()
    store.wait_idle()
    assert list(store.root.iterdir()) == [] and client.get("/api/projects", headers=AUTH).json() == []
    store.close()


def test_a_client_that_goes_away_is_one_log_line(studio, live, caplog):
    store, _ = studio
    caplog.clear()
    with socket.create_connection(("127.0.0.1", live)) as conn:  # an upload announced as 1 MB, cut after 1 KB
        head = (f"POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1:{live}\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n")
        conn.sendall(head.encode() + b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.mp4"\r\n\r\n' + b"\x00" * 1024)
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while not any("went away" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [r for r in caplog.records if r.levelno >= 30]
    assert len(lines) == 1 and "went away" in lines[0].getMessage() and not any(r.exc_info for r in caplog.records)
    assert not [p for p in store.root.iterdir() if not (p / "project.json").exists()]  # the half upload is gone


def test_a_take_request_body_is_json(studio, project):
    _, client = studio
    assert json.loads(client.post(f"/api/projects/{project}/takes", content=b"[", headers=AUTH).text)["error"]


@pytest.mark.slow
def test_a_wheel_install_serves_the_page(tmp_path, wheel_venv):
    """The page ships in the wheel as the package cmtlite.studio.page: a non-editable install serves it."""
    import subprocess

    python, site, root = wheel_venv
    script = (
        "import sys; from fastapi.testclient import TestClient; import cmtlite.studio.page as page;"
        "from cmtlite.studio.projects import ProjectStore; from cmtlite.studio.server import create_app;"
        "store = ProjectStore(sys.argv[1], model=None, soundfont=None);"
        "client = TestClient(create_app(store, 't'), base_url='http://127.0.0.1');"
        "print(list(page.__path__)[0]); print(client.get('/').text); print(client.get('/static/studio.js').text[:200]); store.close()"
    )
    result = subprocess.run([python, "-c", script, str(tmp_path / "work")], capture_output=True, text=True, cwd=tmp_path)  # noqa: S603
    assert result.returncode == 0, result.stderr
    where, *served = result.stdout.splitlines()
    assert where.startswith(str(site)) and not where.startswith(str(root))
    assert 'data-testid="timeline"' in "\n".join(served) and "cmtlite studio: the page" in "\n".join(served)


def test_a_host_beyond_this_machine_is_warned_about(tmp_path, model_file):
    from tests.conftest import run

    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))  # noqa: S104 - the port is taken, so the command stops after the warning
        busy.listen()
        port = busy.getsockname()[1]
        result = run("studio", "--host", "0.0.0.0", "--port", port, "--workdir", tmp_path / "w", "--no-browser", "--model", model_file,
                     "--soundfont", SMALL_SOUNDFONT)
    assert result.exit_code == 2 and "crosses the network in clear" in result.output
