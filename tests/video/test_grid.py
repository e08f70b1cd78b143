"""Grids: a user's tempo fitted in phase and downbeat; the tempo map that lands cuts on bar lines and beats."""

from __future__ import annotations

import numpy as np
import pytest

from cmtlite.timing import TempoMap
from cmtlite.video.grid import MAX_TEMPO_CHANGE, TEMPO_MAP_RANGE, after_long_shot, fit_grid, fit_tempo_map
from cmtlite.video.rhythm import VisualBeats


def _beats(times, strengths=None, cuts=()):
    times = np.asarray(times, float)
    strengths = np.ones(len(times)) if strengths is None else np.asarray(strengths, float)
    return VisualBeats(times_s=times, strengths=strengths, is_cut=np.isin(times, cuts))


def test_grid_phase_puts_beats_on_visual_beats():
    beats = _beats(0.35 + 0.6 * np.arange(20))
    timing = fit_grid(beats, tempo_bpm=100.0, duration_s=12.5)
    assert timing.bar_tempos_bpm() == pytest.approx(100.0)
    start = timing.bar_starts_s[0]
    assert start <= 0.0 < start + 2.4
    offsets = (beats.times_s - start) / 0.6
    assert np.abs(offsets - np.rint(offsets)).max() * 0.6 < 0.01
    assert timing.bar_starts_s[-1] >= 12.5


def test_downbeat_follows_the_strong_beats():
    times = 0.6 * np.arange(32)
    timing = fit_grid(_beats(times, np.where(np.arange(32) % 4 == 1, 1.0, 0.2)), tempo_bpm=100.0, duration_s=19.2)
    assert np.abs(timing.bar_starts_s - 0.6).min() < 1e-6


def test_long_shots_are_two_bars_at_the_analysed_tempo():
    assert after_long_shot(np.array([4.8, 6.0, 11.0]), tempo_bpm=100.0).tolist() == [True, False, True]


def _check_map(timing, tempo_bpm, duration_s):
    tempos = timing.bar_tempos_bpm()
    low, high = TEMPO_MAP_RANGE
    assert tempos.min() >= low * tempo_bpm - 1e-6 and tempos.max() <= high * tempo_bpm + 1e-6
    assert np.abs(np.diff(tempos) / tempos[:-1]).max(initial=0) <= MAX_TEMPO_CHANGE + 1e-9
    assert timing.bar_starts_s[0] <= 0 < timing.bar_starts_s[1] and timing.bar_starts_s[-1] >= duration_s


def test_periodic_beats_keep_their_tempo_and_phase():
    times = 0.35 + 0.6 * np.arange(40)
    timing = fit_tempo_map(_beats(times), np.array([]), tempo_bpm=100.0, duration_s=24.0)
    _check_map(timing, 100.0, 24.0)
    assert timing.bar_tempos_bpm() == pytest.approx(100.0, rel=0.01)
    beats = timing.beat_times_s()
    assert np.mean([np.abs(beats - t).min() <= 0.02 for t in times]) >= 0.95


def test_cuts_land_on_bar_lines_after_long_shots_and_on_beats_after_short_ones():
    truth = TempoMap.from_tempos(-0.9, [100, 100, 104, 108, 108, 104, 100, 96, 96, 96, 100, 100])  # a map that fits them
    cuts = np.array([truth.bar_starts_s[3], truth.beat_times_s()[14], truth.bar_starts_s[6], truth.beat_times_s()[38]])
    timing = fit_tempo_map(_beats(cuts, cuts=cuts), cuts, tempo_bpm=100.0, duration_s=26.0)  # nothing else keeps time
    _check_map(timing, 100.0, 26.0)
    long_shot = after_long_shot(cuts, tempo_bpm=100.0)
    assert long_shot.tolist() == [True, False, True, True]
    for cut, bar_line in zip(cuts, long_shot, strict=True):
        lines = timing.bar_starts_s if bar_line else timing.beat_times_s()
        assert np.abs(lines - cut).min() <= 0.02, (cut, bar_line)


def test_an_impossible_cut_still_lands_on_a_beat():
    cuts = np.array([5.3, 6.4, 13.1, 21.7])  # no smooth map puts all of them on bar lines
    timing = fit_tempo_map(_beats(cuts, cuts=cuts), cuts, tempo_bpm=100.0, duration_s=26.0)
    _check_map(timing, 100.0, 26.0)
    assert all(np.abs(timing.beat_times_s() - cut).min() <= 0.02 for cut in cuts)


def test_a_slowly_drifting_tempo_is_followed():
    intervals = np.linspace(0.6, 0.66, 40)  # 100 BPM slowing to 91 BPM
    times = 0.2 + np.concatenate([[0.0], np.cumsum(intervals)])
    timing = fit_tempo_map(_beats(times), np.array([]), tempo_bpm=96.0, duration_s=float(times[-1]) + 0.5)
    beats = timing.beat_times_s()
    assert np.mean([np.abs(beats - t).min() <= 0.03 for t in times]) >= 0.9
