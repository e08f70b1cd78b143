"""Analysis speed against decoding alone, on the same videos with the same decoder.

    python benchmarks/analyze.py [VIDEO ...] [--repeats N]

Without VIDEO: a 20 s 1280x720 procedural clip and, when ../shared/videos is
there, real footage: big-buck-bunny transcoded with PyAV to 60 s of 1280x720
H.264 (libx264, CRF 23, its two halves played twice). For each video: decode
only (PyAV, threaded as the analyzer's decoder, default options, frames not
converted, in this process: no start-up) against ``cmtlite analyze VIDEO -o
controls.json`` run as a command (Python and import start-up included); best
of N interleaved runs each. Prints their ratio (target >= 0.9) and the
realtime factor (video seconds per wall second), one JSON line per video.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

from cmtlite.constants import REPO_ROOT
from cmtlite.video.clips import demo_scenes, write_clip
from cmtlite.video.decode import probe_video

REAL_SOURCE = REPO_ROOT.parent / "shared" / "videos" / "big-buck-bunny-480p-30s.mp4"


def decode_only(path: Path) -> float:
    """Seconds to decode every frame with PyAV's threaded decoder, as a user's plain decode would."""
    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - start


def analysis(path: Path, folder: Path) -> float:
    """Seconds of ``cmtlite analyze`` as a command, start-up included."""
    command = [sys.executable, "-m", "cmtlite", "analyze", str(path), "-o", str(folder / "controls.json"), "--force", "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, timeout=1800)  # noqa: S603
    return time.perf_counter() - start


def real_720p(path: Path, *, duration_s: float = 60.0) -> Path:
    """``REAL_SOURCE`` scaled to 1280x720 and looped to ``duration_s`` as H.264 (CRF 23, B-frames: a camera's kind of stream)."""
    with av.open(str(path), "w") as target:
        stream = target.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        index = 0
        while index < duration_s * 24:
            with av.open(str(REAL_SOURCE)) as source:
                for frame in source.decode(video=0):
                    if index >= duration_s * 24:
                        break
                    scaled = frame.reformat(width=1280, height=720, format="yuv420p")
                    scaled.pts, scaled.time_base = index, Fraction(1, 24)
                    target.mux(stream.encode(scaled))
                    index += 1
        target.mux(stream.encode(None))
    return path


def measure(video: Path, folder: Path, repeats: int) -> dict:
    decode_s, analyze_s = [], []
    for _ in range(repeats):  # interleaved, best of N: the machine is noisy
        decode_s.append(decode_only(video))
        analyze_s.append(analysis(video, folder))
    info = probe_video(video)
    return {
        "video": video.name,
        "size": f"{info.width}x{info.height}",
        "codec": info.codec,
        "duration_s": round(info.duration_s, 1),
        "decode_only_s": round(min(decode_s), 2),
        "analysis_cli_s": round(min(analyze_s), 2),
        "analysis_over_decode": round(min(decode_s) / min(analyze_s), 3),
        "realtime_factor": round(info.duration_s / min(analyze_s), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        videos = args.videos or [write_clip(tmp / "procedural720p.mp4", demo_scenes(), size=(1280, 720))]
        if not args.videos and REAL_SOURCE.is_file():
            videos.append(real_720p(tmp / "bbb720p-60s.mp4"))
        for video in videos:
            figures = measure(video, tmp, args.repeats)
            print(f"{figures['video']}: decode only {figures['decode_only_s']} s, cmtlite analyze {figures['analysis_cli_s']} s "
                  f"= {figures['analysis_over_decode']:.2f} x decode-only speed (target >= 0.9), {figures['realtime_factor']} x realtime")
            print(json.dumps(figures))


if __name__ == "__main__":
    main()
