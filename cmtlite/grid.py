"""Grid stage: a 4/4 grid fitted to a video's visual beats, and per-bar / per-beat control levels on it.

The grid follows the video's tempo and phase so that grid beats fall on the
visual beats (the grid may start before the video: a pickup). Each bar gets
a density from its motion speed and each beat a strength level from the
visual beats on it, through a :class:`~cmtlite.calibration.Calibration`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cmtlite.calibration import Calibration
from cmtlite.constants import BEATS_PER_BAR, MAX_TEMPO_BPM, MIN_TEMPO_BPM, PHASE_TOLERANCE_S
from cmtlite.video.rhythm import VisualBeats

_REFINE_SPAN = 0.03  # the tempo is refined within +-3 % of the autocorrelation estimate
_REFINE_STEPS = 61
_PHASE_STEPS = 64


@dataclass(frozen=True)
class Grid:
    """A 4/4 grid at a constant tempo.

    Attributes
    ----------
    tempo_bpm : float
        Beats per minute.
    start_s : float
        Time of bar 0's first beat, in seconds of video time (<= 0: a pickup).
    n_bars : int
        Number of bars; together they cover the whole video.
    """

    tempo_bpm: float
    start_s: float
    n_bars: int

    @property
    def beat_s(self) -> float:
        """Duration of one beat in seconds."""
        return 60.0 / self.tempo_bpm

    def beat_times_s(self) -> np.ndarray:
        """Time of every beat, shape (n_bars * 4,), in seconds."""
        return self.start_s + self.beat_s * np.arange(self.n_bars * BEATS_PER_BAR)

    def bar_times_s(self) -> np.ndarray:
        """Start time of every bar, shape (n_bars,), in seconds."""
        return self.start_s + self.beat_s * BEATS_PER_BAR * np.arange(self.n_bars)


def _alignment(times_s: np.ndarray, weights: np.ndarray, periods_s: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Score (P, F) of grids with period P and phase fraction F against weighted beat times."""
    cycles = times_s[None, None, :] / periods_s[:, None, None] - phases[None, :, None]  # (P, F, K)
    offset_s = (np.mod(cycles + 0.5, 1.0) - 0.5) * periods_s[:, None, None]
    return (weights * np.exp(-0.5 * (offset_s / PHASE_TOLERANCE_S) ** 2)).sum(axis=-1)


def fit_grid(beats: VisualBeats, *, tempo_bpm: float, duration_s: float, refine: bool) -> Grid:
    """Fit tempo (optionally refined), phase and downbeat of a grid to the visual beats.

    The phase (and, with ``refine``, the tempo within +-3 %) maximises the
    strength-weighted Gaussian alignment of grid beats with visual beats; the
    downbeat is the beat of the bar that collects the most visual-beat strength.
    Bar 0 starts at the last downbeat at or before time 0.

    Parameters
    ----------
    beats : VisualBeats
        The video's visual beats.
    tempo_bpm : float > 0
        Tempo estimate, beats per minute.
    duration_s : float > 0
        Video duration in seconds.
    refine : bool
        Also search the tempo within +-3 %, staying in 70..150 BPM (False keeps
        ``tempo_bpm`` exactly).

    Returns
    -------
    Grid
    """
    times_s, weights = beats.times_s, beats.strengths
    if refine:
        span = np.linspace(1 - _REFINE_SPAN, 1 + _REFINE_SPAN, _REFINE_STEPS)
        periods_s = 60.0 / np.unique(np.clip(tempo_bpm * span, MIN_TEMPO_BPM, MAX_TEMPO_BPM))
    else:
        periods_s = np.array([60.0 / tempo_bpm])
    phases = np.arange(_PHASE_STEPS) / _PHASE_STEPS
    if len(times_s):
        score = _alignment(times_s, weights, periods_s, phases)
        i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    else:
        i, j = len(periods_s) // 2, 0
    beat_s = float(periods_s[i])
    phase_s = float(phases[j]) * beat_s
    beat_index = np.rint((times_s - phase_s) / beat_s).astype(int)
    downbeat = int(np.argmax([weights[beat_index % BEATS_PER_BAR == r].sum() for r in range(BEATS_PER_BAR)]))
    bar_s = beat_s * BEATS_PER_BAR
    first_downbeat_s = phase_s + downbeat * beat_s
    start_s = first_downbeat_s - math.ceil(first_downbeat_s / bar_s - 1e-9) * bar_s
    n_bars = max(math.ceil((duration_s - start_s) / bar_s - 1e-9), 1)
    return Grid(tempo_bpm=60.0 / beat_s, start_s=start_s, n_bars=n_bars)


def bar_speeds(grid: Grid, times_s: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Mean motion speed of the frames in each bar, shape (n_bars,).

    A bar with no frame (a pickup before the video, or a short video) takes
    the speed of the frame nearest its middle.
    """
    starts = grid.bar_times_s()
    bar_of_frame = np.searchsorted(starts, times_s, side="right") - 1
    sums = np.bincount(bar_of_frame, weights=speed, minlength=grid.n_bars)[: grid.n_bars]
    counts = np.bincount(bar_of_frame, minlength=grid.n_bars)[: grid.n_bars]
    middles = starts + grid.beat_s * BEATS_PER_BAR / 2
    nearest = speed[np.clip(np.searchsorted(times_s, middles), 0, len(times_s) - 1)]
    return np.where(counts > 0, sums / np.maximum(counts, 1), nearest)


def beat_strength_levels(grid: Grid, beats: VisualBeats, calibration: Calibration) -> np.ndarray:
    """Strength level of each grid beat, shape (n_bars * 4,): 0 where no visual beat falls.

    Each visual beat is assigned to its nearest grid beat; a beat with several
    keeps the strongest.
    """
    levels = np.zeros(grid.n_bars * BEATS_PER_BAR, dtype=int)
    if len(beats.times_s):
        index = np.rint((beats.times_s - grid.start_s) / grid.beat_s).astype(int)
        index = np.clip(index, 0, len(levels) - 1)
        np.maximum.at(levels, index, calibration.strength_to_level(beats.strengths))
    return levels
