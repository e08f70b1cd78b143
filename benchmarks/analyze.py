"""Analysis speed against decoding alone, on the same video with the same decoder.

    python benchmarks/analyze.py [VIDEO] [--repeats N]

Without VIDEO, a 20 s 1280x720 procedural clip is drawn first. Prints
decode-only frames/s (PyAV, threaded, frames not converted), full
``analyze_video`` frames/s, their ratio (target >= 0.7) and the realtime
factor (video seconds per wall second), as one JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import av

from cmtlite.analysis import analyze_video
from cmtlite.video.clips import demo_scenes, write_clip


def decode_only(path: Path) -> tuple[int, float]:
    """(frames, seconds) to decode every frame, as the analyzer's decoder does."""
    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        n = sum(1 for _ in container.decode(stream))
    return n, time.perf_counter() - start


def analysis(path: Path) -> tuple[int, float, float]:
    """(frames, seconds, video duration) of a full analysis."""
    start = time.perf_counter()
    controls = analyze_video(path)
    return controls.n_frames, time.perf_counter() - start, controls.duration_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or write_clip(Path(tmp) / "bench720p.mp4", demo_scenes(), size=(1280, 720))
        decode_s, analyze_s = [], []
        for _ in range(args.repeats):  # interleaved, best of N: the machine is noisy
            n_frames, seconds = decode_only(video)
            decode_s.append(seconds)
            n_analyzed, seconds, duration_s = analysis(video)
            analyze_s.append(seconds)
        assert n_frames == n_analyzed, (n_frames, n_analyzed)
        decode_fps, analyze_fps = n_frames / min(decode_s), n_frames / min(analyze_s)
        figures = {
            "video": video.name,
            "frames": n_frames,
            "decode_only_fps": round(decode_fps, 1),
            "analysis_fps": round(analyze_fps, 1),
            "analysis_over_decode": round(analyze_fps / decode_fps, 3),
            "realtime_factor": round(duration_s / min(analyze_s), 1),
        }
    print(f"decode only : {decode_fps:8.1f} frames/s")
    print(f"analysis    : {analyze_fps:8.1f} frames/s  ({figures['analysis_over_decode']:.2f} x decode-only, target >= 0.7)")
    print(f"realtime    : {figures['realtime_factor']:8.1f} x")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
