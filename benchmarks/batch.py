"""Batch throughput: in-process vs Ray with 1 and 2 workers on the same clips.

    python benchmarks/batch.py [--clips 6] [--seconds 10]

Draws ``--clips`` procedural clips of ``--seconds`` each (640x360), then runs
``cmtlite batch`` on them in-process (``--workers 1``), on a local Ray with
one actor and with two actors (``--address`` unset), each into a fresh
output folder. Prints video-seconds per wall-second for each run, the
2-worker speed-up and Ray's overhead for one worker, as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from cmtlite.audio.render import resolve_soundfont
from cmtlite.batch import find_jobs, run_batch
from cmtlite.model import default_model_path
from cmtlite.soundtrack import MixOptions
from cmtlite.video.clips import Scene, write_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    worker_args = {"model_path": default_model_path(), "device": "cpu", "soundfont": resolve_soundfont(), "mix": MixOptions()}
    result = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / "clips").mkdir()
        for i in range(args.clips):
            scene = Scene(duration_s=args.seconds, bounce_s=0.4 + 0.1 * (i % 4), travel=0.3 + 0.05 * i, background=(40 + 20 * i, 60, 90))
            write_clip(tmp / "clips" / f"clip{i}.mp4", [scene], size=(640, 360))
        for name, workers, ray in (("in_process_1", 1, False), ("ray_1", 1, True), ("ray_2", 2, True)):
            out = tmp / name
            jobs = find_jobs(tmp / "clips", out, defaults={})
            start = time.perf_counter()
            summary = run_batch(jobs, out, worker_args=worker_args, workers=workers, use_ray=ray)
            wall = time.perf_counter() - start
            result[f"{name}_video_s_per_s"] = round(summary.video_s / wall, 3)
            print(f"{name:>13}: {summary.ok} ok in {wall:.1f} s = {summary.video_s / wall:.2f} video-s per s")
    result["speedup_2_over_1_ray"] = round(result["ray_2_video_s_per_s"] / result["ray_1_video_s_per_s"], 2)
    result["ray_overhead_1_worker"] = round(result["in_process_1_video_s_per_s"] / result["ray_1_video_s_per_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
