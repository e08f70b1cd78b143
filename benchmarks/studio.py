"""How interactive the studio is: a section regenerate against a full take, on a 1-minute video, model kept loaded.

    python benchmarks/studio.py [--bars 2] [--repeats 3]

Both are measured the way the studio makes them (``ProjectStore``: sample,
write MIDI, render, master, write WAV; the MP4 is muxed only when asked
for), with the analysis cached and the shipped model loaded once. Prints the
best of ``--repeats`` for each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from cmtlite.audio.render import resolve_soundfont
from cmtlite.model import default_model_path, load_model
from cmtlite.soundtrack import MusicOptions
from cmtlite.studio.projects import ProjectStore, TakeRequest
from cmtlite.video.clips import demo_scenes, write_clip


def timed_take(store: ProjectStore, project: str, request: TakeRequest) -> tuple[str, float]:
    start = time.perf_counter()
    take = store.create_take(project, request)
    store.wait_idle()
    assert store.take(project, take)["status"] == "ready", store.take(project, take)
    return take, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model, _ = load_model(default_model_path())
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        clip = write_clip(tmp / "minute.mp4", demo_scenes() * 3, size=(640, 360))
        store = ProjectStore(tmp / "work", model=model, soundfont=resolve_soundfont())
        project = store.create_from_path(clip)
        store.wait_idle()
        n_bars = store.get(project)["controls"]["n_bars"]
        first = n_bars // 2
        full_s, section_s = [], []
        for repeat in range(args.repeats):  # interleaved, best of N: the machine is noisy
            take, seconds = timed_take(store, project, TakeRequest(music=MusicOptions(seed=repeat)))
            full_s.append(seconds)
            bars = (first, first + args.bars - 1)
            _, seconds = timed_take(store, project, TakeRequest(music=MusicOptions(seed=100 + repeat), from_take=take, bars=bars))
            section_s.append(seconds)
        store.close()
    result = {"video_s": 60.0, "bars": n_bars, "regenerated_bars": args.bars, "full_take_s": round(min(full_s), 2),
              "section_take_s": round(min(section_s), 2), "section_over_full": round(min(section_s) / min(full_s), 2)}
    for key, value in result.items():
        print(f"{key:>18}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
