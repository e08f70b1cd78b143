"""Rhythm analysis on synthetic clips with known impacts, cuts and tempo."""

from __future__ import annotations

import numpy as np
import pytest

from cmtlite.video.clips import Scene, cut_times_s, impact_times_s, write_clip
from cmtlite.video.decode import open_video
from cmtlite.video.motion import measure_motion
from cmtlite.video.rhythm import (
    VisualBeats,
    add_regular_beats,
    detect_cuts,
    detect_visual_beats,
    estimate_tempo,
    frame_rate,
    motion_level,
    saliency_envelope,
    scene_directogram,
)
from tests.conftest import BOUNCE_SCENES
from tests.conftest import f_measure as _f_measure


def _rhythm(path):
    with open_video(path) as video:
        motion = measure_motion(video)
    cuts = detect_cuts(motion.times_s, motion.thumb_diff)
    fps = frame_rate(motion.times_s)
    directogram = scene_directogram(motion.directogram, motion.camera, cuts, fps=fps)
    saliency = saliency_envelope(directogram, cuts, fps=fps)
    level = motion_level(directogram, fps=fps)
    return motion, cuts, saliency, detect_visual_beats(motion.times_s, saliency, cuts, level=level)


def test_cuts_found_within_one_frame(bounce_clip):
    motion, cuts, _, _ = _rhythm(bounce_clip)
    found = motion.times_s[cuts]
    truth = cut_times_s(BOUNCE_SCENES)
    assert len(found) == len(truth)
    assert np.all(np.abs(found - truth) <= 1 / 30 + 1e-6)


def test_visual_beats_f_measure(bounce_clip):
    _, _, _, beats = _rhythm(bounce_clip)
    truth = np.sort(np.concatenate([impact_times_s(BOUNCE_SCENES), cut_times_s(BOUNCE_SCENES)]))
    assert _f_measure(beats.times_s, truth, 0.07) >= 0.9
    assert np.all(np.diff(beats.times_s) >= 0.25 - 1e-9)
    assert np.all((beats.strengths >= 0) & (beats.strengths <= 1))
    assert np.all(beats.strengths[beats.is_cut] == 1.0)


def test_tempo_of_impacts_every_0_6_s_is_100_bpm(bounce_clip):
    motion, _, saliency, beats = _rhythm(bounce_clip)
    estimate = estimate_tempo(motion.times_s, saliency, n_beats=len(beats.times_s))
    assert estimate.bpm is not None
    assert abs(estimate.bpm - 100.0) <= 2.0


def test_static_video_has_no_beats_and_no_tempo(static_clip):
    motion, cuts, saliency, beats = _rhythm(static_clip)
    assert len(cuts) == 0
    assert len(beats.times_s) == 0
    assert estimate_tempo(motion.times_s, saliency, n_beats=0).bpm is None


def test_cut_detection_ignores_steady_motion():
    times = np.arange(300) / 30
    diff = 5 + np.random.default_rng(0).uniform(0, 2, 300)  # a busy but uncut shot
    diff[150] = 60.0
    assert list(detect_cuts(times, diff)) == [150]


def test_saliency_is_a_deceleration():
    gram = np.zeros((40, 8))
    gram[:20, 0] = 1.0  # moving right, then reversing to the left at frame 20
    gram[20:, 4] = 1.0
    saliency = saliency_envelope(gram, np.zeros(0, int), fps=30.0)
    assert int(np.argmax(saliency)) in (18, 19, 20)
    assert saliency[:10].max() < 1e-6 and saliency[30:].max() < 1e-6


def test_slow_then_fast_bounces_keep_tempo_and_beats(tmp_path):
    from cmtlite.analysis import analyze_video

    scenes = [Scene(duration_s=6.0, bounce_s=0.6, travel=0.15), Scene(duration_s=6.0, bounce_s=0.6, travel=0.75)]
    path = write_clip(tmp_path / "slow_fast.mp4", scenes, size=(320, 180))
    controls = analyze_video(path)
    assert controls.tempo_source == "analysis" and controls.tempo_bpm == pytest.approx(100.0, rel=0.02)
    assert controls.timing().bar_tempos_bpm() == pytest.approx(100.0, rel=0.02)
    impacts = impact_times_s(scenes)
    slow_half = impacts[impacts < 6.0]
    found = controls.visual_beat_time_s()
    assert np.mean([np.abs(found - t).min() <= 0.07 for t in slow_half]) >= 0.75  # the faint half's bounces are found
    assert _f_measure(found, np.sort(np.concatenate([impacts, cut_times_s(scenes)])), 0.07) >= 0.85


def test_regular_beats_need_the_grid():
    times = np.arange(0, 6, 1 / 30)
    saliency = np.full(len(times), 0.001)
    saliency[np.rint(np.arange(0.5, 6, 0.5) * 30).astype(int)] = 0.01  # faint peaks every 0.5 s
    none = VisualBeats(times_s=np.zeros(0), strengths=np.zeros(0), is_cut=np.zeros(0, bool))
    level = np.full(len(times), 0.02)
    on_grid = add_regular_beats(times, saliency, none, np.arange(0.5, 6, 0.5), level=level)
    assert len(on_grid.times_s) == 11 and (on_grid.strengths <= 1).all()
    assert len(add_regular_beats(times, saliency, none, np.arange(0.25, 6, 0.5), level=level).times_s) == 0  # off the grid: noise
    assert len(add_regular_beats(times, saliency, none, np.arange(0.5, 6, 0.5), level=10 * level).times_s) == 0  # faint for the motion
