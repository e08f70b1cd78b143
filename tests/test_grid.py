"""Grid fitting: tempo, phase and downbeat fitted to visual beats."""

from __future__ import annotations

import numpy as np
import pytest

from cmtlite.grid import fit_grid
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
