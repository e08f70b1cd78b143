"""Peak memory of the analysis for a 1-minute and a 10-minute video, and a full 10-minute soundtrack.

    python benchmarks/memory.py [--size 640x360] [--no-generate]

Draws two procedural clips (the demo's scenes repeated), then runs each
stage in a fresh Python process and reads its peak resident memory
(``ru_maxrss``). The analysis streams frames, so the 10-minute / 1-minute
ratio should stay near 1. Unless ``--no-generate``, it also soundtracks the
10-minute clip end to end and checks that the output lasts exactly as long as
the video. Prints a JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from cmtlite.video.clips import demo_scenes, write_clip
from cmtlite.video.decode import probe_video

CHILD = """
import resource, sys
from pathlib import Path
from cmtlite.cli import cli
try:
    cli.main(sys.argv[1:], prog_name="cmtlite")
except SystemExit as done:
    code = done.code
else:
    code = 0
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "CODE", code, file=sys.stderr)
"""


def run_cmtlite(*args: object) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one ``cmtlite`` command in a fresh process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True, text=True, check=False)  # noqa: S603
    line = next(x for x in done.stderr.splitlines() if x.startswith("PEAK_KB"))
    _, kb, _, code = line.split()
    if code not in {"0", "None"}:
        raise SystemExit(done.stderr)
    return int(kb) / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--no-generate", action="store_true")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    result = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        clips = {minutes: write_clip(tmp / f"{minutes}min.mp4", demo_scenes() * (3 * minutes), size=size) for minutes in (1, 10)}
        for minutes, clip in clips.items():
            peak, seconds = run_cmtlite("analyze", clip, "-o", tmp / f"{minutes}.json", "-q")
            result[f"analyze_{minutes}min_peak_mb"], result[f"analyze_{minutes}min_s"] = round(peak, 1), round(seconds, 1)
            print(f"analyze {minutes:>2} min: peak {peak:.0f} MB, {seconds:.1f} s")
        result["peak_ratio_10_over_1"] = round(result["analyze_10min_peak_mb"] / result["analyze_1min_peak_mb"], 2)
        if not args.no_generate:
            out = tmp / "out.mp4"
            peak, seconds = run_cmtlite("generate", clips[10], "-o", out, "-q")
            result |= {"generate_10min_peak_mb": round(peak, 1), "generate_10min_s": round(seconds, 1)}
            result["output_minus_video_s"] = round(probe_video(out).duration_s - probe_video(clips[10]).duration_s, 4)
            with av.open(str(out)) as container:
                audio = container.streams.audio[0]
                result["audio_minus_video_s"] = round(float(audio.duration * audio.time_base) - probe_video(clips[10]).duration_s, 4)
            print(f"generate 10 min: peak {peak:.0f} MB, {seconds:.1f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
