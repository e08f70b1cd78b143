"""How interactive the studio is: a take and a section regenerate of a 1-minute video, and importing a 1 GiB file.

    python benchmarks/studio.py [--bars 2] [--repeats 3] [--import-gib 1]

Takes are measured the way the studio makes them (``ProjectStore`` ->
``make_soundtrack``: sample, write MIDI, render, master at the project's
gain, write WAV; the MP4 is muxed only when asked for), with the analysis
cached and the shipped model loaded once; best of ``--repeats`` each, and
their ratio. The import runs on a real server (uvicorn): a sparse file of
``--import-gib`` GiB is given by path, once as a hard link and once copied
(``link_imports=False``); printed are the seconds until the create request
answers, until the file is in place, and the slowest of the ``GET
/api/projects`` requests sent every 50 ms meanwhile.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import httpx

from cmtlite.audio.render import resolve_soundfont
from cmtlite.model import default_model_path, load_model
from cmtlite.soundtrack import MusicOptions
from cmtlite.studio.projects import ProjectStore, TakeRequest
from cmtlite.studio.server import create_app, running
from cmtlite.video.clips import demo_scenes, write_clip

TOKEN = "benchmark"


def timed_take(store: ProjectStore, project: str, request: TakeRequest) -> tuple[str, float]:
    start = time.perf_counter()
    take = store.create_take(project, request)
    store.wait_idle()
    assert store.take(project, take)["status"] == "ready", store.take(project, take)
    return take, time.perf_counter() - start


def takes(model: object, tmp: Path, n_bars_regenerated: int, repeats: int) -> dict:
    clip = write_clip(tmp / "minute.mp4", demo_scenes() * 3, size=(640, 360))
    store = ProjectStore(tmp / "work", model=model, soundfont=resolve_soundfont())
    project = store.create_from_path(clip)
    store.wait_idle()
    n_bars = store.get(project)["controls"]["n_bars"]
    first = n_bars // 2
    full_s, section_s = [], []
    for repeat in range(repeats):  # interleaved, best of N: the machine is noisy
        take, seconds = timed_take(store, project, TakeRequest(music=MusicOptions(seed=repeat)))
        full_s.append(seconds)
        bars = (first, first + n_bars_regenerated - 1)
        _, seconds = timed_take(store, project, TakeRequest(music=MusicOptions(seed=100 + repeat), from_take=take, bars=bars))
        section_s.append(seconds)
    store.close()
    return {"video_s": 60.0, "bars": n_bars, "regenerated_bars": n_bars_regenerated, "full_take_s": round(min(full_s), 2),
            "section_take_s": round(min(section_s), 2), "section_over_full": round(min(section_s) / min(full_s), 2)}


def import_file(model: object, tmp: Path, size_bytes: int, *, link: bool) -> dict:
    big = tmp / "big.mp4"
    with big.open("wb") as fh:
        fh.truncate(size_bytes)  # sparse: made at once, reads back as zeros
    store = ProjectStore(tmp / f"import-{link}", model=model, soundfont=resolve_soundfont(), link_imports=link)
    with running(create_app(store, TOKEN)) as port:
        row = _timed_import(f"http://127.0.0.1:{port}", big)
    store.wait_idle()
    store.close()
    big.unlink()
    return {"gib": round(size_bytes / (1 << 30), 2), "how": "hard link" if link else "copy", **row}


def _timed_import(base: str, big: Path) -> dict:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    waits, done = [], threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=base, headers=auth) as client:
            while not done.is_set():
                start = time.perf_counter()
                client.get("/api/projects").raise_for_status()
                waits.append(time.perf_counter() - start)
                time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)
    with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
        start = time.perf_counter()
        project = client.post("/api/projects", json={"video": str(big)}).json()["id"]
        answered_s = time.perf_counter() - start
        while client.get(f"/api/projects/{project}").json()["status"] == "importing":
            time.sleep(0.02)
        imported_s = time.perf_counter() - start
    time.sleep(0.2)
    done.set()
    poller.join()
    return {"answered_s": round(answered_s, 3), "imported_s": round(imported_s, 2), "slowest_other_request_s": round(max(waits), 3),
            "other_requests": len(waits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--import-gib", type=float, default=1.0)
    args = parser.parse_args()
    model, _ = load_model(default_model_path())
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        result = {"takes": takes(model, tmp, args.bars, args.repeats),
                  "imports": [import_file(model, tmp, int(args.import_gib * (1 << 30)), link=link) for link in (True, False)]}
    for key, value in result["takes"].items():
        print(f"{key:>24}: {value}")
    for row in result["imports"]:
        print(f"import {row['gib']} GiB by {row['how']}: answered in {row['answered_s']} s, in place after {row['imported_s']} s, "
              f"slowest of {row['other_requests']} other requests {row['slowest_other_request_s']} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
