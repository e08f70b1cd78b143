"""Hostile inputs from outside: each case ends with exit 2 and one line naming the file and the problem
(or exit 0 where the input is odd but valid), no traceback, nothing partial left, nothing existing changed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cmtlite.video.clips import Scene, scene_frames, write_clip, write_frames
from tests.conftest import SMALL_SOUNDFONT, assert_bad_input, bad_video, needs_soundfont, run

pytestmark = needs_soundfont


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def generate_args(video, tmp_path, model_file):  # noqa: F811
    return ["generate", video, "-o", tmp_path / "out.mp4", "--model", model_file, "--soundfont", SMALL_SOUNDFONT, "-q"]


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", ["missing.mp4", "no such file"]),
        ("directory", ["directory.mp4", "directory"]),
        ("empty", ["empty.mp4", "empty"]),
        ("text", ["text.mp4", "not a readable video"]),
        ("truncated", ["truncated.mp4"]),
        ("audio_only", ["audio_only.m4a", "no video stream"]),
    ],
)
def test_bad_videos_for_generate(kind, words, bounce_clip, tmp_path, model_file):  # noqa: F811
    video = bad_video(kind, tmp_path / f"{kind}.mp4", bounce_clip)
    before = snapshot(tmp_path)
    assert_bad_input(run(*generate_args(video, tmp_path, model_file)), *words)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("scenes", "fps", "name"),
    [
        ([Scene(duration_s=1 / 30, bounce_s=0.6)], 30.0, "single_frame"),
        ([Scene(duration_s=0.5, bounce_s=0.25)], 30.0, "half_second"),
    ],
)
def test_tiny_videos_are_odd_but_valid(scenes, fps, name, tmp_path, model_file):  # noqa: F811
    video = write_clip(tmp_path / f"{name}.mp4", scenes, size=(160, 96), fps=fps)
    result = run(*generate_args(video, tmp_path, model_file), "--midi", tmp_path / "out.mid")
    assert result.exit_code == 0, result.output
    from cmtlite.video.decode import probe_video
    from tests.conftest import audio_duration_s

    assert abs(audio_duration_s(tmp_path / "out.mp4") - probe_video(video).duration_s) <= 1024 / 44100


def test_odd_size_rotated_and_vfr_videos(tmp_path, model_file):  # noqa: F811
    odd = write_clip(tmp_path / "odd.mkv", [Scene(duration_s=2.0, bounce_s=0.6)], size=(333, 211), codec="ffv1")
    frames = [(t, f) for t, f in scene_frames([Scene(duration_s=2.0, bounce_s=0.6)], fps=30.0, size=(180, 320)) if int(t * 30) % 3]
    vfr = write_frames(tmp_path / "vfr portrait é.mp4", frames, size=(180, 320))
    for video, out in ((odd, tmp_path / "odd out.mkv"), (vfr, tmp_path / "vfr é.mp4")):
        result = run("generate", video, "-o", out, "--model", model_file, "--soundfont", SMALL_SOUNDFONT, "-q")
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0


@pytest.mark.slow
def test_4k_video_is_streamed(tmp_path, model_file):  # noqa: F811
    video = write_clip(tmp_path / "uhd.mp4", [Scene(duration_s=1.0, bounce_s=0.5)], size=(3840, 2160), fps=10.0)
    result = run("analyze", video, "-o", tmp_path / "c.json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "c.json").read_text())["width"] == 3840


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--tempo", "0"], ["--tempo"]),
        (["--tempo", "10000"], ["--tempo"]),
        (["--density-shift", "99"], ["--density-shift"]),
        (["--strength-shift", "-99"], ["--strength-shift"]),
        (["--loudness", "10"], ["--loudness"]),
        (["--temperature", "-1"], ["--temperature"]),
        (["--fade-out", "nan"], ["--fade-out"]),
        (["--soundfont", "{tmp}/missing.sf2"], ["missing.sf2"]),
        (["--soundfont", "{tmp}/corrupt.sf2"], ["corrupt.sf2", "not a SoundFont"]),
        (["--model", "{tmp}/truncated.safetensors"], ["truncated.safetensors"]),
        (["--model", "{tmp}/corrupt.sf2"], ["corrupt.sf2"]),
        (["-o", "{tmp}/no_dir/out.mp4"], ["does not exist"]),
        (["-o", "{tmp}/existing.mp4"], ["existing.mp4", "exists"]),
    ],
)
def test_absurd_options_and_bad_files(args, words, bounce_clip, tmp_path, model_file):  # noqa: F811
    (tmp_path / "corrupt.sf2").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    (tmp_path / "existing.mp4").write_bytes(b"keep me")
    data = model_file.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    before = snapshot(tmp_path)
    args = [a.format(tmp=tmp_path) for a in args]
    base = ["generate", bounce_clip, "--model", model_file, "--soundfont", SMALL_SOUNDFONT, "-q"]
    if "-o" not in args:
        base += ["-o", tmp_path / "out.mp4"]
    assert_bad_input(run(*base, *args), *words)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda c: c.pop("bars"), ["missing keys", "bars"]),
        (lambda c: c.update(tempo_bpm="fast"), ["tempo_bpm"]),
        (lambda c: c.update(duration_s=float("nan")), ["duration_s"]),
        (lambda c: c.update(duration_s=-3), ["duration_s"]),
        (lambda c: c["bars"][0].update(density=-1), ["bars[0].density"]),
        (lambda c: c["beats"].pop(), ["beats"]),
        (lambda c: c["visual_beats"].append({"time_s": 1.0, "strength": 7}), ["visual_beats"]),
    ],
)
def test_bad_controls_json(edit, words, bounce_clip, tmp_path, model_file):  # noqa: F811
    controls = tmp_path / "controls.json"
    assert run("analyze", bounce_clip, "-o", controls, "-q").exit_code == 0
    doc = json.loads(controls.read_text())
    edit(doc)
    controls.write_text(json.dumps(doc))
    before = snapshot(tmp_path)
    assert_bad_input(run("generate", controls, "--midi", tmp_path / "x.mid", "--model", model_file, "-q"), "controls.json", *words)
    assert_bad_input(run("evaluate", tmp_path / "any.mid", "--controls", controls), "controls.json", *words)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["render", "evaluate", "tokens", "score"])
def test_truncated_midi(command, tmp_path):
    from cmtlite.tokens.codec import make_score
    from cmtlite.tokens.midi import write_midi

    full = tmp_path / "full.mid"
    write_midi(make_score(np.array([[1, 60 + i % 12, 4 * i, 4] for i in range(64)]), tempo_bpm=100)[0], full)
    cut = tmp_path / "cut.mid"
    cut.write_bytes(full.read_bytes()[:200])
    args = {"render": ["-o", tmp_path / "x.wav", "--soundfont", SMALL_SOUNDFONT], "evaluate": [], "tokens": ["-o", tmp_path / "x.jsonl"],
            "score": []}
    assert_bad_input(run(command, cut, *args[command]), "cut.mid")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mid", "full.mid"]


def test_output_path_is_a_directory(bounce_clip, tmp_path):
    (tmp_path / "out.json").mkdir()
    assert_bad_input(run("analyze", bounce_clip, "-o", tmp_path / "out.json", "-q"), "out.json")


@pytest.mark.slow
def test_sigint_leaves_nothing_and_exits_130(bounce_clip, tmp_path, model_file):  # noqa: F811
    out = tmp_path / "out.mp4"
    command = [sys.executable, "-m", "cmtlite", *map(str, generate_args(bounce_clip, tmp_path, model_file)), "--stems", str(tmp_path)]
    for delay_s in (1.0, 3.0):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # noqa: S603
        time.sleep(delay_s)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        if process.returncode == 0:  # finished before the signal: nothing to check at this delay
            out.unlink()
            for stem in tmp_path.glob("*.wav"):
                stem.unlink()
            continue
        assert process.returncode == 130, stderr
        assert stderr.strip().splitlines()[-1] == "error: interrupted"
        assert not out.exists() and not list(tmp_path.glob("*partial*"))
