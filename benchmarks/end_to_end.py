"""Video -> soundtracked mp4, whole and stage by stage, against the tools each stage replaces.

    python benchmarks/end_to_end.py [VIDEO] [--soundfont SF2] [--repeats N]

Without VIDEO: real footage, 60 s of 1280x720 H.264 made from
../shared/videos (``benchmarks/analyze.py``), else a 60 s 1280x720
procedural clip (the demo's scenes, three times). The whole job is
``cmtlite generate VIDEO -o OUT.mp4`` run as a command (start-up and model
load included) against its floor: decoding the video alone (PyAV, threaded)
plus ``fluidsynth -F`` rendering the same MIDI (target: within 2x), and its
realtime factor (video seconds per wall second). Then seconds per stage (analyze, generate,
render + master, mux) with the shipped model on the CPU, the overall
realtime factor (video seconds per wall second; target: a 60 s video in
under 30 s), FluidSynth in-process against the ``fluidsynth -F`` command
line on the same MIDI and soundfont (target >= 0.9x; best of N interleaved
runs each), and the mux against a
plain stream copy of the video alone. One JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
from analyze import REAL_SOURCE, decode_only, real_720p

from cmtlite.audio.render import render_midi, resolve_soundfont
from cmtlite.constants import REPO_ROOT
from cmtlite.model import default_model_path, load_model
from cmtlite.soundtrack import Outputs, make_soundtrack
from cmtlite.video.clips import demo_scenes, write_clip


def timed(fn):  # noqa: ANN001, ANN201
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def stream_copy(video: Path, output: Path) -> None:
    """The video stream alone, copied packet for packet (what a plain remux costs)."""
    with av.open(str(video)) as source, av.open(str(output), "w") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)


def generate_cli(video: Path, folder: Path, soundfont: Path) -> float:
    """Seconds of ``cmtlite generate VIDEO -o OUT.mp4 --midi OUT.mid``, as a user runs it."""
    command = [sys.executable, "-m", "cmtlite", "generate", str(video), "-o", str(folder / "cli.mp4"), "--midi", str(folder / "cli.mid"),
               "--soundfont", str(soundfont), "--force", "-q"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=1800)  # noqa: S603
    return time.perf_counter() - start


def main() -> None:  # noqa: PLR0914
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--soundfont", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    soundfont = resolve_soundfont(args.soundfont)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if args.video:
            video = args.video
        elif REAL_SOURCE.is_file():
            video = real_720p(tmp / "bbb720p-60s.mp4")
        else:
            video = write_clip(tmp / "clip.mp4", demo_scenes() * 3)
        model, _ = load_model(default_model_path())
        midi, stages = tmp / "soundtrack.mid", {}
        made = make_soundtrack(video, Outputs(video=tmp / "out.mp4", midi=midi), model=model, soundfont=soundfont,
                               on_stage=lambda name, seconds: stages.update({name: seconds}))
        duration = made.controls.duration_s
        _, copy_s = timed(lambda: stream_copy(video, tmp / "copy.mp4"))
        cli = shutil.which("fluidsynth")
        command = [cli, "-ni", "-q", "-r", "44100", "-F", str(tmp / "cli.wav"), str(soundfont), str(midi)] if cli else None
        ours_s, cli_s, job_s, decode_s = float("inf"), float("inf") if command else None, float("inf"), float("inf")
        for _ in range(args.repeats):  # interleaved, best of N: the machine is noisy
            job_s = min(job_s, generate_cli(video, tmp, soundfont))
            decode_s = min(decode_s, decode_only(video))
            ours_s = min(ours_s, timed(lambda: render_midi(midi, soundfont))[1])
            if command:
                cli_s = min(cli_s, timed(lambda: subprocess.run(command, check=True, capture_output=True, timeout=600))[1])  # noqa: S603
    total = sum(stages.values())
    floor_s = decode_s + cli_s if cli_s else None
    result = {
        "video": video.name,
        "video_s": round(duration, 2),
        "generate_cli_s": round(job_s, 2),
        "floor_decode_plus_fluidsynth_s": round(floor_s, 2) if floor_s else None,
        "generate_over_floor": round(job_s / floor_s, 2) if floor_s else None,
        "realtime_factor_cli": round(duration / job_s, 2),
        "analyze_s": round(stages["analyze"], 2),
        "generate_s": round(stages["generate"], 2),
        "render_master_s": round(stages["render"], 2),
        "mux_s": round(stages["mux"], 2),
        "total_s": round(total, 2),
        "realtime_factor_stages": round(duration / total, 2),
        "render_in_process_s": round(ours_s, 2),
        "render_fluidsynth_cli_s": round(cli_s, 2) if cli_s else None,
        "render_speed_vs_cli": round(cli_s / ours_s, 2) if cli_s else None,
        "mux_over_stream_copy": round(stages["mux"] / copy_s, 2),
    }
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
