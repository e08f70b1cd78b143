"""Grid stage: a 4/4 grid fitted to a video's cuts and visual beats, and per-bar / per-beat control levels on it.

The grid is a tempo map (a tempo per bar, :func:`fit_tempo_map`) that puts
scene cuts on bar lines or beats and grid beats on the visual beats, or one
tempo the user gave (:func:`fit_grid`); it may start before the video (a pickup). Each bar gets
a density from its motion speed and each beat a strength level from the
visual beats on it, through a :class:`~cmtlite.calibration.Calibration`.
"""

from __future__ import annotations

import math

import numpy as np

from cmtlite.calibration import Calibration
from cmtlite.constants import BEATS_PER_BAR, PHASE_TOLERANCE_S, TICKS_PER_BEAT
from cmtlite.timing import TempoMap, tempo_to_beat_s
from cmtlite.video.rhythm import VisualBeats

LONG_SHOT_BARS = 2  # a cut after a shot this long (in bars at the analysed tempo) goes on a bar line, else on a beat
TEMPO_MAP_STEP_S = 0.01  # lattice of the tempo-map search
TEMPO_MAP_RANGE = (0.75, 1.33)  # every bar's tempo within these multiples of the analysed tempo
MAX_TEMPO_CHANGE = 0.08  # at most this relative change of tempo from one bar to the next
TEMPO_PRIOR_WEIGHT = 50.0  # pull of the analysed tempo, per bar, on the squared log tempo ratio
TEMPO_SMOOTH_WEIGHT = 50.0  # pull of the previous bar's tempo, likewise
CUT_PENALTY = 100.0  # a cut 20 ms or more off its bar line / beat costs this much (a visual beat scores up to ~1.5)
CUT_TOLERANCE_S = 0.02  # ... and one closer pays the squared fraction of that
_PHASE_STEPS = 64
_DP_BLOCK = 32  # tempo-map lattice starts scored at once: (32, L, L) floats


def _alignment(times_s: np.ndarray, weights: np.ndarray, periods_s: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Score (P, F) of grids with period P and phase fraction F against weighted beat times."""
    cycles = times_s[None, None, :] / periods_s[:, None, None] - phases[None, :, None]  # (P, F, K)
    offset_s = (np.mod(cycles + 0.5, 1.0) - 0.5) * periods_s[:, None, None]
    return (weights * np.exp(-0.5 * (offset_s / PHASE_TOLERANCE_S) ** 2)).sum(axis=-1)


def fit_grid(beats: VisualBeats, *, tempo_bpm: float, duration_s: float) -> TempoMap:
    """A grid at exactly ``tempo_bpm`` whose phase and downbeat fit the visual beats (a tempo the user gave).

    The phase maximises the strength-weighted Gaussian alignment of grid beats
    with visual beats; the downbeat is the beat of the bar that collects the
    most visual-beat strength. Bar 0 starts at the last downbeat at or before 0.

    Parameters
    ----------
    beats : VisualBeats
        The video's visual beats.
    tempo_bpm : float > 0
        The tempo, beats per minute.
    duration_s : float > 0
        Video duration in seconds.

    Returns
    -------
    TempoMap
        One tempo for every bar.
    """
    times_s, weights = beats.times_s, beats.strengths
    beat_s = tempo_to_beat_s(tempo_bpm)
    phases = np.arange(_PHASE_STEPS) / _PHASE_STEPS
    j = int(np.argmax(_alignment(times_s, weights, np.array([beat_s]), phases)[0])) if len(times_s) else 0
    phase_s = float(phases[j]) * beat_s
    beat_index = np.rint((times_s - phase_s) / beat_s).astype(int)
    downbeat = int(np.argmax([weights[beat_index % BEATS_PER_BAR == r].sum() for r in range(BEATS_PER_BAR)]))
    bar_s = beat_s * BEATS_PER_BAR
    first_downbeat_s = phase_s + downbeat * beat_s
    start_s = first_downbeat_s - math.ceil(first_downbeat_s / bar_s - 1e-9) * bar_s
    n_bars = max(math.ceil((duration_s - start_s) / bar_s - 1e-9), 1)
    return TempoMap.from_tempos(start_s, np.full(n_bars, tempo_bpm))


def bar_speeds(timing: TempoMap, times_s: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Mean motion speed of the frames in each bar, shape (n_bars,).

    A bar with no frame (a pickup before the video, or a short video) takes
    the speed of the frame nearest its middle.
    """
    starts, n_bars = timing.bar_starts_s[:-1], timing.n_bars
    bar_of_frame = np.searchsorted(starts, times_s, side="right") - 1
    sums = np.bincount(bar_of_frame, weights=speed, minlength=n_bars)[:n_bars]
    counts = np.bincount(bar_of_frame, minlength=n_bars)[:n_bars]
    middles = (timing.bar_starts_s[:-1] + timing.bar_starts_s[1:]) / 2
    nearest = speed[np.clip(np.searchsorted(times_s, middles), 0, len(times_s) - 1)]
    return np.where(counts > 0, sums / np.maximum(counts, 1), nearest)


def beat_strength_levels(timing: TempoMap, beats: VisualBeats, calibration: Calibration) -> np.ndarray:
    """Strength level of each grid beat, shape (n_bars * 4,): 0 where no visual beat falls.

    Each visual beat is assigned to its nearest grid beat; a beat with several
    keeps the strongest.
    """
    levels = np.zeros(timing.n_bars * BEATS_PER_BAR, dtype=int)
    if len(beats.times_s):
        index = np.rint(timing.seconds_to_ticks(beats.times_s) / TICKS_PER_BEAT).astype(int)
        index = np.clip(index, 0, len(levels) - 1)
        np.maximum.at(levels, index, calibration.strength_to_level(beats.strengths))
    return levels


def after_long_shot(cuts_s: np.ndarray, *, tempo_bpm: float) -> np.ndarray:
    """For each scene cut (s, increasing), whether the shot before it (from the last cut, or 0) lasts at least two bars."""
    cuts_s = np.asarray(cuts_s, np.float64)
    shots_s = np.diff(np.concatenate([[0.0], cuts_s]))
    return shots_s >= LONG_SHOT_BARS * BEATS_PER_BAR * tempo_to_beat_s(tempo_bpm) - 1e-9


def fit_tempo_map(beats: VisualBeats, cuts_s: np.ndarray, *, tempo_bpm: float, duration_s: float) -> TempoMap:
    """A tempo per bar that lands scene cuts on bar lines (or beats) and grid beats on visual beats.

    Dynamic programming over bar lines on a 10 ms lattice (``TEMPO_MAP_STEP_S``):
    a state is a bar (its start, its length); a path of bars covers the video
    from a bar that starts at or before 0. A bar scores the visual-beat
    strength near its 4 beats (a Gaussian of ``PHASE_TOLERANCE_S``; its
    downbeat counts 1.5x) minus ``TEMPO_PRIOR_WEIGHT`` times the squared log
    ratio of its tempo to ``tempo_bpm`` and ``TEMPO_SMOOTH_WEIGHT`` times the
    squared log ratio to the previous bar's tempo, and pays for every cut it
    holds by the cut's distance to its nearest beat: ``CUT_PENALTY`` times the
    squared distance over 20 ms, at most ``CUT_PENALTY``; a cut after a shot of
    at least two bars belongs on the bar line, and pays at least half that
    (the half for being off the bar line) unless it is on it. Hard
    limits: every bar's tempo within 0.75..1.33x ``tempo_bpm``, and no more
    than 8 % change from one bar to the next. The best path wins.

    Parameters
    ----------
    beats : VisualBeats
        The video's visual beats (cuts among them, strength 1).
    cuts_s : np.ndarray [shape=(C,)]
        Scene cut times in seconds, increasing.
    tempo_bpm : float > 0
        The analysed tempo (beats per minute): the map's reference.
    duration_s : float > 0
        Video duration in seconds.

    Returns
    -------
    TempoMap
        Bars covering 0..``duration_s``, bar 0 starting at or before 0.
    """
    step = TEMPO_MAP_STEP_S
    lengths = _bar_lengths(tempo_bpm)  # (L,) candidate bar lengths, in lattice steps
    origin = int(lengths.max())  # lattice index of time 0: a first bar may start up to one bar before it
    end = origin + round(duration_s / step)
    n_positions = end + int(lengths.max()) + 1
    times = (np.arange(n_positions) - origin) * step
    salience = _salience(beats, times)
    ratio = np.log(lengths[None, :] / lengths[:, None])  # (L, L): log(new length / previous length)
    smooth = np.where(np.abs(ratio) <= np.log(1 + MAX_TEMPO_CHANGE) + 1e-9, -TEMPO_SMOOTH_WEIGHT * ratio**2, -np.inf)
    prior = -TEMPO_PRIOR_WEIGHT * np.log(lengths * step / (BEATS_PER_BAR * tempo_to_beat_s(tempo_bpm))) ** 2
    order = np.argsort(cuts_s)
    cut_positions = origin + np.asarray(cuts_s, np.float64)[order] / step
    on_bar_line = after_long_shot(np.asarray(cuts_s, np.float64)[order], tempo_bpm=tempo_bpm)
    block = min(int(lengths.min()), _DP_BLOCK)  # starts less than a shortest bar apart do not depend on each other
    ring = int(lengths.max()) + block  # scores are kept for the last bar length's worth of starts (and a block) only
    score = np.full((ring, len(lengths)), -np.inf, np.float32)  # score[q % ring]: best path whose last bar starts at q
    bar_scores = _BarScorer(lengths, salience, cut_positions, on_bar_line)
    back = np.zeros((n_positions, len(lengths)), np.uint8)  # index of the previous bar's length (lengths <= 255 of them)
    firsts = np.arange(origin + 1)
    holds_zero = firsts[:, None] + lengths[None, :] > origin  # a first bar holds time 0
    score[firsts % ring] = np.where(holds_zero, bar_scores(firsts) + prior, -np.inf)
    columns = np.arange(len(lengths))
    for first in range(origin + 1, end + 1, block):
        qs = np.arange(first, min(first + block, end + 1))
        starts = qs[:, None] - lengths[None, :]  # (B, L): where the previous bar started, for each previous length
        previous = np.where(starts >= 0, score[starts % ring, columns], -np.inf)
        total = previous[:, :, None] + smooth[None]  # (B, previous length, new length)
        best = np.argmax(total, axis=1)
        gain = np.take_along_axis(total, best[:, None, :], axis=1)[:, 0]
        score[qs % ring] = gain + bar_scores(qs) + prior
        back[qs] = best
    q, li = _best_last_bar(score, lengths, end)
    bar_lines = [q + int(lengths[li])]
    while True:  # walk back to the first bar, the one that holds time 0
        bar_lines.append(q)
        if q <= origin:
            break
        previous = int(back[q, li])
        q, li = q - int(lengths[previous]), previous
    return TempoMap((np.array(bar_lines[::-1], np.float64) - origin) * step)


def _bar_lengths(tempo_bpm: float) -> np.ndarray:
    """Candidate bar lengths in lattice steps: tempos within ``TEMPO_MAP_RANGE`` of ``tempo_bpm``."""
    bar_s = BEATS_PER_BAR * tempo_to_beat_s(tempo_bpm)
    low, high = TEMPO_MAP_RANGE
    shortest, longest = math.ceil(bar_s / high / TEMPO_MAP_STEP_S), math.floor(bar_s / low / TEMPO_MAP_STEP_S)
    return np.arange(shortest, longest + 1)


def _salience(beats: VisualBeats, times_s: np.ndarray) -> np.ndarray:
    """Visual-beat strength near each lattice time: a sum of Gaussians of width ``PHASE_TOLERANCE_S``, shape (N,)."""
    out = np.zeros(len(times_s))
    for t, w in zip(beats.times_s, beats.strengths, strict=True):
        near = slice(*np.searchsorted(times_s, [t - 4 * PHASE_TOLERANCE_S, t + 4 * PHASE_TOLERANCE_S]))  # times_s increase
        out[near] += w * np.exp(-0.5 * ((times_s[near] - t) / PHASE_TOLERANCE_S) ** 2)
    return out


class _BarScorer:
    """Scores of a bar starting at a lattice index, for every candidate length: beat salience minus cut penalties."""

    _WEIGHTS = np.array([1.5, 1.0, 1.0, 1.0])  # the downbeat counts more

    def __init__(self, lengths: np.ndarray, salience: np.ndarray, cut_positions: np.ndarray, on_bar_line: np.ndarray) -> None:
        self.lengths, self.cut_positions, self.on_bar_line = lengths, cut_positions, on_bar_line
        self.offsets = lengths[:, None] * np.arange(BEATS_PER_BAR)[None, :] / BEATS_PER_BAR  # (L, 4) beats, in lattice steps
        self.floor = np.floor(self.offsets).astype(np.int64)
        self.fraction = self.offsets - self.floor
        self.salience = np.append(salience, 0.0)  # one past the end, for the interpolation
        self.tolerance = CUT_TOLERANCE_S / TEMPO_MAP_STEP_S

    def __call__(self, qs: np.ndarray) -> np.ndarray:
        """Scores (B, L) of bars starting at lattice indices ``qs`` (B,), increasing."""
        index = qs[:, None, None] + self.floor[None]  # (B, L, 4)
        at_beats = self.salience[index] * (1 - self.fraction) + self.salience[index + 1] * self.fraction
        scores = at_beats @ self._WEIGHTS
        near = slice(*np.searchsorted(self.cut_positions, [qs[0] - self.tolerance, qs[-1] + self.lengths[-1]]))  # cut positions increase
        q = qs[:, None]
        for position, bar_line in zip(self.cut_positions[near], self.on_bar_line[near], strict=True):
            inside = (position >= q - self.tolerance) & (position < q + self.lengths - self.tolerance)  # (B, L)
            if not inside.any():
                continue
            off_beat = np.minimum((np.abs(q[..., None] + self.offsets - position).min(axis=2) / self.tolerance) ** 2, 1.0)
            if bar_line:  # on a beat but off the bar line is half a miss
                off_beat = np.minimum(np.minimum(((position - q) / self.tolerance) ** 2, 1.0), 0.5 + 0.5 * off_beat)
            scores -= CUT_PENALTY * inside * off_beat
        return scores


def _best_last_bar(score: np.ndarray, lengths: np.ndarray, end: int) -> tuple[int, int]:
    """(start index, length index) of the best final bar: one that holds the video's end (``score`` is the ring of the last starts)."""
    starts = np.arange(max(end - len(score) + 1, 0), end)[:, None]
    holds_end = starts + lengths[None, :] >= end
    masked = np.where(holds_end, score[starts[:, 0] % len(score)], -np.inf)
    row, li = np.unravel_index(int(np.argmax(masked)), masked.shape)
    return int(starts[row, 0]), int(li)
