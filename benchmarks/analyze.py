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
Also the CPU seconds of each and the ratio's ceiling on this machine: the
decode-only time over the analysis' CPU time spread perfectly over every
core (no overlap can beat it; on 2 cores decoding alone keeps 1.6 busy).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def decode_only_cpu(path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds to decode every frame with PyAV's threaded decoder, as a user's plain decode would."""
    start, cpu = time.perf_counter(), _cpu_s(resource.RUSAGE_SELF)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - start, _cpu_s(resource.RUSAGE_SELF) - cpu


def decode_only(path: Path) -> float:
    """Wall seconds of :func:`decode_only_cpu`."""
    return decode_only_cpu(path)[0]


def analysis(path: Path, folder: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of ``cmtlite analyze`` as a command, start-up included."""
    command = [sys.executable, "-m", "cmtlite", "analyze", str(path), "-o", str(folder / "controls.json"), "--force", "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    start, cpu = time.perf_counter(), _cpu_s(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, capture_output=True, env=env, timeout=1800)  # noqa: S603
    return time.perf_counter() - start, _cpu_s(resource.RUSAGE_CHILDREN) - cpu


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
    decode_s, analyze_s, decode_cpu_s, analyze_cpu_s = [], [], [], []
    for _ in range(repeats):  # interleaved, best of N: the machine is noisy
        for walls, cpus, (wall, cpu) in ((decode_s, decode_cpu_s, decode_only_cpu(video)),
                                         (analyze_s, analyze_cpu_s, analysis(video, folder))):
            walls.append(wall)
            cpus.append(cpu)
    info = probe_video(video)
    cores = len(os.sched_getaffinity(0))
    return {
        "video": video.name,
        "size": f"{info.width}x{info.height}",
        "codec": info.codec,
        "duration_s": round(info.duration_s, 1),
        "decode_only_s": round(min(decode_s), 2),
        "analysis_cli_s": round(min(analyze_s), 2),
        "analysis_over_decode": round(min(decode_s) / min(analyze_s), 3),
        "realtime_factor": round(info.duration_s / min(analyze_s), 1),
        "cores": cores,
        "decode_only_cpu_s": round(min(decode_cpu_s), 2),
        "analysis_cpu_s": round(min(analyze_cpu_s), 2),
        "ceiling_over_decode": round(min(decode_s) / (min(analyze_cpu_s) / cores), 3),
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
                  f"= {figures['analysis_over_decode']:.2f} x decode-only speed (target >= 0.9), {figures['realtime_factor']} x realtime; "
                  f"CPU {figures['decode_only_cpu_s']} s vs {figures['analysis_cpu_s']} s: at most {figures['ceiling_over_decode']:.2f} x "
                  f"on {figures['cores']} cores")
            print(json.dumps(figures))


if __name__ == "__main__":
    main()
