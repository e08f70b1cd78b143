"""The controls contract: VideoControls round trips through controls.json, and every bad value is named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmtlite.calibration import load_calibration
from cmtlite.controls import Bar, Beat, VideoControls, VisualBeat, read_controls, write_controls
from cmtlite.errors import ConfigError
from tests.conftest import minimal_controls


@pytest.fixture(scope="module")
def analyzed(bounce_clip):
    from cmtlite.analysis import analyze_video

    return analyze_video(bounce_clip)


def test_analysis_round_trips_through_json(analyzed, tmp_path):
    path = write_controls(analyzed, tmp_path / "controls.json", force=False)
    again = read_controls(path)
    assert again.to_json() == analyzed.to_json()
    assert json.loads(path.read_text()) == analyzed.to_json()
    np.testing.assert_array_equal(again.bar_density(), analyzed.bar_density())
    assert again.calibration == analyzed.calibration  # the calibration travels with the controls


def test_the_calibration_travels_in_the_file(analyzed):
    doc = analyzed.to_json()
    assert set(doc["calibration"]) >= {"version", "source", "probabilities", "strength_quantiles"}
    custom = {**doc["calibration"], "strength_quantiles": [1.0] * len(doc["calibration"]["probabilities"])}
    assert VideoControls.from_json({**doc, "calibration": custom}).calibration.strongest_level() == 1
    old_style = {"version": doc["calibration"]["version"], "source": "older file"}
    assert VideoControls.from_json({**doc, "calibration": old_style}).calibration == load_calibration()


def test_a_hand_written_minimal_file_is_accepted():
    controls = VideoControls.from_json(minimal_controls())
    assert controls.n_bars == 2 and controls.visual_beats == () and controls.frame_motion is None
    assert controls.beat_strength_level().tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    assert np.diff(controls.timing().bar_starts_s).tolist() == pytest.approx([2.0, 2.0])
    doc = controls.to_json()
    assert "video_path" not in doc and "frame_motion" not in doc  # optional keys that are absent stay absent
    assert VideoControls.from_json(doc).to_json() == doc


def test_values_are_rounded_as_the_file_stores_them():
    doc = VideoControls.from_json(minimal_controls(tempo_bpm=120.123456789)).to_json()
    assert doc["tempo_bpm"] == 120.123


def test_records_build_in_code():
    bars = tuple(Bar(index=b, start_s=2.0 * b, density=b) for b in range(2))
    beats = tuple(Beat(time_s=0.5 * k, strength_level=0) for k in range(8))
    controls = VideoControls(tempo_bpm=120.0, duration_s=4.0, grid_start_s=0.0, n_bars=2, bars=bars, beats=beats,
                             visual_beats=(VisualBeat(time_s=1.0, strength=0.5),))
    assert controls.visual_beat_time_s().tolist() == [1.0]
    with pytest.raises(ConfigError, match="need 3 bars"):
        VideoControls(tempo_bpm=120.0, duration_s=4.0, grid_start_s=0.0, n_bars=3, bars=bars, beats=beats)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda c: c.pop("bars"), ["missing keys", "bars"]),
        (lambda c: c.pop("tempo_bpm") and c.pop("n_bars"), ["missing keys", "n_bars", "tempo_bpm"]),
        (lambda c: c.update(tempo_bpm="fast"), ["tempo_bpm", "'fast'"]),
        (lambda c: c.update(tempo_bpm=400), ["tempo_bpm", "30, 300"]),
        (lambda c: c.update(tempo_bpm=True), ["tempo_bpm"]),
        (lambda c: c.update(duration_s=float("nan")), ["duration_s"]),
        (lambda c: c.update(duration_s=-3), ["duration_s"]),
        (lambda c: c.update(grid_start_s=0.5), ["grid_start_s"]),
        (lambda c: c.update(n_bars=0), ["n_bars"]),
        (lambda c: c.update(n_bars=2.0), ["n_bars", "integer"]),
        (lambda c: c.update(bars="many"), ["bars", "a list"]),
        (lambda c: c["bars"].__setitem__(1, 7), ["bars[1]", "object"]),
        (lambda c: c["bars"][0].update(density=-1), ["bars[0].density"]),
        (lambda c: c["bars"][0].update(density=17), ["bars[0].density"]),
        (lambda c: c["bars"][1].pop("start_s"), ["missing keys", "start_s", "bars[1]"]),
        (lambda c: c["beats"].pop(), ["beats", "need 2 bars and 8 beats"]),
        (lambda c: c["beats"][3].update(strength_level=1.5), ["beats[3].strength_level"]),
        (lambda c: c["beats"][3].update(time_s=float("inf")), ["beats[3].time_s"]),
        (lambda c: c.update(visual_beats=[{"time_s": 1.0, "strength": 7}]), ["visual_beats[0].strength"]),
        (lambda c: c.update(visual_beats=[{"time_s": 1.0, "strength": 0.5, "is_cut": "yes"}]), ["visual_beats[0].is_cut"]),
        (lambda c: c.update(scene_cuts_s=[1.0, None]), ["scene_cuts_s[1]"]),
        (lambda c: c.update(ticks_per_beat=8), ["ticks_per_beat"]),
        (lambda c: c.update(frame_motion={"times_s": [0.0], "speed": [0.0]}), ["missing keys", "saliency"]),
        (lambda c: c.update(frame_motion={"times_s": [0.0], "speed": [], "saliency": [0.0]}), ["one length"]),
        (lambda c: c.update(frame_motion={"times_s": ["0"], "speed": [0.0], "saliency": [0.0]}), ["frame_motion.times_s"]),
        (lambda c: c.update(calibration=[1, 2]), ["calibration"]),
        (lambda c: c.update(calibration={"probabilities": [0, 1]}), ["calibration", "KeyError"]),
        (lambda c: c.update(warnings="none"), ["warnings"]),
        (lambda c: c.update(has_audio=1), ["has_audio"]),
    ],
)
def test_every_bad_value_is_named(edit, words, tmp_path):
    doc = minimal_controls()
    edit(doc)
    path = tmp_path / "controls.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as err:
        read_controls(path)
    message = str(err.value)
    assert message.startswith(f"{path}: bad controls.json: ")
    for word in words:
        assert word in message


@pytest.mark.parametrize("text", ["", "[1, 2]", "{", "null", "\"controls\""])
def test_not_a_controls_object(text, tmp_path):
    path = tmp_path / "controls.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="controls.json"):
        read_controls(path)


def test_the_tempo_map_drives_bar_and_beat_times():
    doc = minimal_controls(n_bars=3, tempo_map=[{"bar": 0, "tempo_bpm": 120.0}, {"bar": 2, "tempo_bpm": 60.0}])
    controls = VideoControls.from_json(doc)
    assert controls.bar_tempos_bpm().tolist() == [120.0, 120.0, 60.0]
    assert controls.bar_start_s().tolist() == pytest.approx([-0.25, 1.75, 3.75])  # derived from the map, not the file
    assert controls.beat_time_s()[8:].tolist() == pytest.approx([3.75, 4.75, 5.75, 6.75])
    again = VideoControls.from_json(controls.to_json())
    assert again.to_json() == controls.to_json()
    edited = VideoControls.from_json({**controls.to_json(), "tempo_map": [{"bar": 1, "tempo_bpm": 100.0}]})
    assert edited.bar_tempos_bpm().tolist() == [120.0, 100.0, 100.0]  # before the first change: tempo_bpm


@pytest.mark.parametrize(
    ("tempo_map", "words"),
    [
        ([{"bar": 1, "tempo_bpm": 100.0}, {"bar": 1, "tempo_bpm": 90.0}], ["tempo_map", "increase"]),
        ([{"bar": 2, "tempo_bpm": 100.0}], ["tempo_map", "below n_bars"]),
        ([{"bar": 0, "tempo_bpm": 20.0}], ["tempo_map[0].tempo_bpm"]),
        ([{"bar": 0}], ["missing keys", "tempo_bpm"]),
    ],
)
def test_bad_tempo_maps_are_named(tempo_map, words):
    with pytest.raises(ConfigError) as err:
        VideoControls.from_json(minimal_controls(tempo_map=tempo_map))
    for word in words:
        assert word in str(err.value)
