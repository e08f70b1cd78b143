"""Rhythm analysis on synthetic clips with known impacts, cuts and tempo."""

from __future__ import annotations

import numpy as np
import pytest

from cmtlite.video.clips import Scene, cut_times_s, impact_times_s, write_clip, write_frames
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
from tests.conftest import BOUNCE_SCENES, StyleClip, f_measure, recall


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


def test_visual_beatsf_measure(bounce_clip):
    _, _, _, beats = _rhythm(bounce_clip)
    truth = np.sort(np.concatenate([impact_times_s(BOUNCE_SCENES), cut_times_s(BOUNCE_SCENES)]))
    assert f_measure(beats.times_s, truth, 0.07) >= 0.9
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
    assert f_measure(found, np.sort(np.concatenate([impacts, cut_times_s(scenes)])), 0.07) >= 0.85


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


def _tempo_map_deviation(controls, period_s: float) -> float:
    """Largest relative distance of a bar's tempo from the motion's period (octaves allowed)."""
    ratio = controls.timing().bar_tempos_bpm() / (60.0 / period_s)
    octave = 2.0 ** np.round(np.log2(np.median(ratio)))
    return float(np.abs(ratio / octave - 1.0).max())


def _analyzed(clip: StyleClip, path):
    from cmtlite.analysis import analyze_video

    return analyze_video(clip.write(path))


def test_reversals_are_beats_at_any_speed(tmp_path):
    """The issue's square: a striped background, reversing every 0.6 s, 120 px/s for 6 s then 520 px/s."""
    clip = StyleClip()
    controls = _analyzed(clip, tmp_path / "bounce.mp4")
    found, truth = np.asarray(controls.visual_beat_time_s()), clip.turns_s()
    assert recall(found, truth[truth < clip.block_s]) >= 0.75
    assert f_measure(found, truth) >= 0.85
    assert controls.tempo_source == "analysis" and _tempo_map_deviation(controls, clip.period_s) <= 0.03


def test_a_cut_between_slow_and_fast_keeps_the_tempo_steady(tmp_path):
    """The same rhythm across a cut (slow square on stripes, then fast on a checkerboard): the flow across the cut is no motion."""
    from cmtlite.analysis import analyze_video

    slow, fast = StyleClip(speeds_px_s=(120.0,), block_s=6.0), StyleClip(speeds_px_s=(520.0,), block_s=6.0, background="checker", seed=1)
    path = write_frames(tmp_path / "cut.mp4", [*slow.frames(), *((t + 6.0, f) for t, f in fast.frames())], size=slow.size)
    controls = analyze_video(path)
    found, truth = np.asarray(controls.visual_beat_time_s()), np.arange(1, 20) * slow.period_s
    assert controls.scene_cuts_s == pytest.approx((6.0,), abs=0.04)
    assert f_measure(found, truth) >= 0.85 and recall(found, truth[truth < 6.0]) >= 0.75
    assert controls.tempo_source == "analysis" and _tempo_map_deviation(controls, slow.period_s) <= 0.03


def test_a_pendulum_turns_on_the_beat(tmp_path):
    """Smooth turns (a sinusoidal swing, extremes every 0.6 s) are beats, and the tempo is steady."""
    clip = StyleClip(motion="pendulum", speeds_px_s=(520.0,), block_s=12.0)
    controls = _analyzed(clip, tmp_path / "pendulum.mp4")
    assert f_measure(np.asarray(controls.visual_beat_time_s()), clip.turns_s()) >= 0.8
    assert controls.tempo_source == "analysis" and _tempo_map_deviation(controls, clip.period_s) <= 0.03


@pytest.mark.parametrize(
    "clip",
    [
        StyleClip(motion="pendulum", speeds_px_s=(150.0,), block_s=10.0, background="checker", size=(480, 270)),
        StyleClip(motion="pendulum", speeds_px_s=(300.0, 600.0), block_s=4.9, vertical=True, noise=8, period_s=0.7),
        StyleClip(motion="pendulum", speeds_px_s=(400.0,), block_s=9.0, shake_px=1.5, background="flat", period_s=0.45, square_px=32),
        StyleClip(speeds_px_s=(200.0, 520.0), block_s=5.0, noise=6, shake_px=1.0, size=(854, 480), background="texture", period_s=0.5),
        StyleClip(speeds_px_s=(90.0, 300.0), block_s=4.8, size=(320, 240), background="texture", fps=25.0, period_s=0.8, seed=3),
    ],
    ids=["slow-pendulum-checker", "vertical-noisy-pendulum", "shaky-fast-pendulum", "noisy-shaky-bounce", "small-25fps-bounce"],
)
def test_held_out_styles(tmp_path, clip):
    controls = _analyzed(clip, tmp_path / "clip.mp4")
    found, truth = np.asarray(controls.visual_beat_time_s()), clip.turns_s()
    # x264's threaded encoding of the noisy, shaky clip is not bit-identical from run to run on a loaded machine:
    # measured F 0.79-0.94 and slow-half recall 0.44-0.78 over such runs. The others vary far less.
    noisy = clip.noise > 0 and clip.shake_px > 0
    assert f_measure(found, truth) >= (0.75 if noisy else 0.8)
    assert recall(found, truth[truth < clip.block_s]) >= (0.4 if noisy else 0.7)  # the slower (first) half too
    assert controls.tempo_source == "analysis" and _tempo_map_deviation(controls, clip.period_s) <= 0.035


def test_still_and_drifting_shots_invent_no_beats(tmp_path):
    """Sensor noise, shake and a steady drift are no beats (the square never turns)."""
    clip = StyleClip(speeds_px_s=(60.0,), period_s=20.0, block_s=6.0, noise=6, shake_px=0.7, background="texture", size=(480, 270))
    controls = _analyzed(clip, tmp_path / "drift.mp4")
    assert len(controls.visual_beats) <= 1
