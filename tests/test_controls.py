"""Grid fitting, calibration and the controls of whole videos."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmtlite.controls import Calibration, analyze_video, fit_grid, load_calibration
from cmtlite.errors import ConfigError
from cmtlite.video.rhythm import VisualBeats


def _beats(times):
    times = np.asarray(times, float)
    return VisualBeats(times_s=times, strengths=np.ones(len(times)), is_cut=np.zeros(len(times), bool))


def test_grid_phase_puts_beats_on_visual_beats():
    beats = _beats(0.35 + 0.6 * np.arange(20))
    grid = fit_grid(beats, tempo_bpm=100.0, duration_s=12.5, refine=False)
    assert grid.tempo_bpm == pytest.approx(100.0)
    assert grid.start_s <= 0.0 < grid.start_s + 2.4
    offsets = (beats.times_s - grid.start_s) / grid.beat_s
    assert np.abs(offsets - np.rint(offsets)).max() * grid.beat_s < 0.01
    assert grid.bar_times_s()[-1] + 2.4 >= 12.5


def test_grid_refines_a_slightly_wrong_tempo():
    beats = _beats(0.1 + (60 / 102) * np.arange(40))
    grid = fit_grid(beats, tempo_bpm=100.0, duration_s=24.0, refine=True)
    assert grid.tempo_bpm == pytest.approx(102.0, abs=0.2)


def test_downbeat_follows_the_strong_beats():
    times = 0.6 * np.arange(32)
    strengths = np.where(np.arange(32) % 4 == 1, 1.0, 0.2)
    beats = VisualBeats(times_s=times, strengths=strengths, is_cut=np.zeros(32, bool))
    grid = fit_grid(beats, tempo_bpm=100.0, duration_s=19.2, refine=False)
    assert (0.6 - grid.start_s) / 2.4 == pytest.approx(round((0.6 - grid.start_s) / 2.4), abs=1e-6)


def test_calibration_maps_monotonically():
    cal = load_calibration()
    speeds = np.linspace(0, 1, 50)
    assert np.all(np.diff(cal.speed_to_density(speeds)) >= 0)
    assert cal.speed_to_density(np.array([0.0, 10.0])).tolist()[1] <= 16
    levels = cal.strength_to_level(np.linspace(0, 1, 20))
    assert np.all(np.diff(levels) >= 0) and levels.min() >= 1


def test_bad_calibration_is_a_config_error(tmp_path):
    path = tmp_path / "cal.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "source": "x",
                "probabilities": [0, 1],
                "speed_quantiles": [1, 0],
                "density_quantiles": [0, 16],
                "strength_quantiles": [1, 9],
            }
        )
    )
    with pytest.raises(ConfigError, match="non-decreasing"):
        load_calibration(path)
    with pytest.raises(ConfigError):
        Calibration(1, "x", (0.0,), (0.0,), (0.0,), (0.0,))


def test_faster_motion_gives_higher_density(slow_fast_clip):
    result = analyze_video(slow_fast_clip)
    bars = result.grid.bar_times_s()
    slow = result.bar_density[(bars >= 0) & (bars + result.grid.beat_s * 4 <= 6.0)]
    fast = result.bar_density[bars >= 6.0]
    assert len(slow) and len(fast)
    assert fast.min() > slow.max()


def test_static_video_falls_back_to_default_tempo(static_clip):
    result = analyze_video(static_clip)
    doc = result.to_json()
    assert doc["tempo_source"] == "default"
    assert doc["tempo_bpm"] == 100.0
    assert doc["visual_beats"] == [] and doc["scene_cuts_s"] == []
    assert any("default" in w for w in doc["warnings"])
    assert all(b["strength_level"] == 0 for b in doc["beats"])


def test_user_tempo_is_kept_exactly(bounce_clip):
    assert analyze_video(bounce_clip, tempo_bpm=87.5).grid.tempo_bpm == 87.5


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
    result = analyze_video(shared_videos / "big-buck-bunny-480p-30s.mp4")
    cuts = result.motion.times_s[result.cut_frames]
    for expected in (11.9, 15.8, 23.0):  # listed in ../shared/videos/SOURCES.md
        assert np.abs(cuts - expected).min() <= 0.1
    assert len(cuts) <= 5


def test_histogram_quantiles():
    from cmtlite.controls import histogram_quantiles

    assert histogram_quantiles(np.array([0, 2, 0, 2]), (0.0, 0.25, 0.5, 0.51, 1.0)) == (1.0, 1.0, 1.0, 3.0, 3.0)


def test_calibrate_from_a_prepared_corpus(tiny_corpus, tmp_path):
    from tests.test_cli import assert_bad_input, run

    out = tmp_path / "calibration.json"
    result = run("calibrate", tiny_corpus, "-o", out)
    assert result.exit_code == 0, result.output
    calibration = load_calibration(out)
    meta = json.loads((tiny_corpus / "meta.json").read_text())
    densities = np.nonzero(meta["statistics"]["bar_density_histogram"])[0]
    assert calibration.density_quantiles[0] == densities[densities > 0].min()
    assert calibration.density_quantiles[-1] == densities.max()
    assert calibration.speed_quantiles == load_calibration().speed_quantiles
    assert_bad_input(run("calibrate", tmp_path, "-o", tmp_path / "x.json"), "not a prepared corpus")
    assert_bad_input(run("calibrate", tiny_corpus, "-o", out), "exists")
