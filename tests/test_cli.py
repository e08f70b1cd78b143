"""The command line from outside: outputs, exit codes and one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_bad_input, bad_video, run


def test_analyze_writes_json_and_plot(bounce_clip, tmp_path):
    out, plot = tmp_path / "controls.json", tmp_path / "controls.png"
    result = run("analyze", bounce_clip, "-o", out, "--plot", plot, "--quiet")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["n_bars"] >= 4
    assert doc["key"].endswith((":maj", ":min")) and doc["sections"][0] == {"start_bar": 0, "label": "A"}
    assert doc["chords"][0]["bar"] == 0 and {"valence", "arousal", "brightness", "saturation"} <= set(doc["mood"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["controls.json", "controls.png"]


def test_analyze_key_and_seed_set_the_plan(bounce_clip, tmp_path):
    plans = {}
    for name, args in (("a", ["--key", "F#m"]), ("b", ["--key", "F#:min", "--seed", "0"]), ("c", ["--key", "F#m", "--seed", "7"])):
        assert run("analyze", bounce_clip, "-o", tmp_path / f"{name}.json", *args, "-q").exit_code == 0
        plans[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert {p["key"] for p in plans.values()} == {"F#:min"}
    assert plans["a"]["chords"] == plans["b"]["chords"]
    assert plans["a"]["chords"][-1]["label"] == "F#:min"


def test_existing_output_is_refused_and_unchanged(bounce_clip, tmp_path):
    out = tmp_path / "controls.json"
    out.write_text("keep me")
    assert_bad_input(run("analyze", bounce_clip, "-o", out, "-q"), "exists", "--force")
    assert out.read_text() == "keep me"
    assert run("analyze", bounce_clip, "-o", out, "-q", "--force").exit_code == 0
    assert json.loads(out.read_text())["tempo_bpm"] > 0


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing", ["no such file"]),
        ("directory", ["directory"]),
        ("empty", ["empty"]),
        ("text", ["not a readable video"]),
        ("truncated", ["clip.mp4"]),
        ("audio_only", ["no video stream"]),
    ],
)
def test_bad_videos(case, words, bounce_clip, tmp_path):
    video = bad_video(case, tmp_path / "clip.mp4", bounce_clip)
    out = tmp_path / "out.json"
    assert_bad_input(run("analyze", video, "-o", out, "-q"), *words)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--tempo", "0"], ["--tempo", "between"]),
        (["--tempo", "10000"], ["--tempo"]),
        (["--tempo", "nan"], ["--tempo"]),
        (["--tempo", "fast"], ["--tempo"]),
        (["--key", "Hm"], ["--key", "tonic"]),
        (["--key", "C:lydian"], ["--key"]),
        (["--seed", "x"], ["--seed"]),
        ([], ["Missing option", "-o"]),
    ],
)
def test_bad_options(args, words, bounce_clip, tmp_path):
    out = [] if not args else ["-o", tmp_path / "out.json"]
    assert_bad_input(run("analyze", bounce_clip, *out, *args, "-q"), *words)
    assert not (tmp_path / "out.json").exists()


def test_output_directory_missing(bounce_clip, tmp_path):
    assert_bad_input(run("analyze", bounce_clip, "-o", tmp_path / "nope" / "c.json", "-q"), "does not exist")


def test_plot_path_checked_before_work(bounce_clip, tmp_path):
    plot = tmp_path / "p.png"
    plot.write_bytes(b"old")
    out = tmp_path / "c.json"
    assert_bad_input(run("analyze", bounce_clip, "-o", out, "--plot", plot, "-q"), "p.png", "exists")
    assert not out.exists() and plot.read_bytes() == b"old"


def test_non_ascii_and_spaces_in_paths(bounce_clip, tmp_path):
    folder = tmp_path / "mes vidéos ♪"
    folder.mkdir()
    video = folder / "clip été.mp4"
    video.write_bytes(bounce_clip.read_bytes())
    result = run("analyze", video, "-o", folder / "contrôles.json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((folder / "contrôles.json").read_text())["video_path"] == str(video)


def test_version_and_help():
    assert run("--version").exit_code == 0
    result = run("--help")
    assert result.exit_code == 0 and "analyze" in result.output

