"""Whole-video analysis: tempo, density from motion, the static fallback, and what controls.json holds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmtlite.analysis import analyze_video


def test_faster_motion_gives_higher_density(slow_fast_clip):
    controls = analyze_video(slow_fast_clip)
    bars, density = controls.bar_start_s(), controls.bar_density()
    slow = density[(bars >= 0) & (controls.timing().bar_starts_s[1:] <= 6.0)]
    fast = density[bars >= 6.0]
    assert len(slow) and len(fast)
    assert fast.min() > slow.max()


def test_static_video_falls_back_to_default_tempo(static_clip):
    result = analyze_video(static_clip)
    doc = result.to_json()
    assert doc["tempo_source"] == "default"
    assert doc["mood"]["arousal"] == 0.0
    assert doc["tempo_bpm"] == 85.0  # the default 100, nudged down 15 by a motionless picture
    assert doc["visual_beats"] == [] and doc["scene_cuts_s"] == []
    assert any("default" in w for w in doc["warnings"])
    assert all(b["strength_level"] == 0 for b in doc["beats"])


def test_user_tempo_is_kept_exactly(bounce_clip):
    assert analyze_video(bounce_clip, tempo_bpm=87.5).tempo_bpm == 87.5


def test_json_contract(bounce_clip):
    doc = json.loads(json.dumps(analyze_video(bounce_clip).to_json()))
    for key in (
        "duration_s",
        "fps",
        "width",
        "height",
        "n_frames",
        "tempo_bpm",
        "ticks_per_beat",
        "beats_per_bar",
        "n_bars",
        "visual_beats",
        "scene_cuts_s",
        "bars",
        "beats",
        "frame_motion",
    ):
        assert key in doc
    assert doc["ticks_per_beat"] == 4 and doc["beats_per_bar"] == 4
    assert doc["tempo_source"] == "analysis" and abs(doc["tempo_bpm"] - 100) <= 2
    assert doc["n_frames"] == 324 and doc["duration_s"] == pytest.approx(10.8, abs=0.05)
    times = [b["time_s"] for b in doc["visual_beats"]]
    assert times == sorted(times) and all(0 <= b["strength"] <= 1 for b in doc["visual_beats"])
    assert len(doc["bars"]) == doc["n_bars"] and len(doc["beats"]) == 4 * doc["n_bars"]
    assert doc["bars"][0]["start_s"] <= 0 and doc["bars"][-1]["start_s"] + 4 * 60 / doc["tempo_bpm"] >= doc["duration_s"]
    assert {"index", "start_s", "motion_speed", "density"} <= set(doc["bars"][0])
    assert {"index", "time_s", "strength_level"} <= set(doc["beats"][0])
    assert all(0 <= b["density"] <= 16 for b in doc["bars"])
    motion = doc["frame_motion"]
    assert len(motion["times_s"]) == len(motion["speed"]) == len(motion["saliency"]) > 0
    # grid beats land on the visual beats: every impact is within 70 ms of a grid beat
    grid = np.array([b["time_s"] for b in doc["beats"]])
    assert all(np.abs(grid - t).min() <= 0.07 for t in times)


@pytest.mark.shared
def test_big_buck_bunny_cuts(shared_videos):
    cuts = np.array(analyze_video(shared_videos / "big-buck-bunny-480p-30s.mp4").scene_cuts_s)
    for expected in (11.9, 15.8, 23.0):  # listed in ../shared/videos/SOURCES.md
        assert np.abs(cuts - expected).min() <= 0.1
    assert len(cuts) <= 5
