"""Rhythm of a video from its per-frame motion: scene cuts, saliency, visual beats, tempo.

All functions are pure and work on the arrays of :class:`~cmtlite.video.motion.FrameMotion`.
The saliency follows Davis & Agrawala's "directogram" (Visual Rhythm and Beat,
SIGGRAPH 2018), as CMT does: motion is binned by direction and a visual beat is
a sudden deceleration in some direction (an impact, a stop, a reversal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

from cmtlite.constants import (
    BEAT_MIN_RELATIVE,
    BEAT_MIN_SALIENCY,
    BEAT_THRESHOLD_MADS,
    BEAT_WINDOW_S,
    CUT_MEDIAN_OFFSET,
    CUT_MEDIAN_RATIO,
    CUT_MIN_DIFF,
    CUT_WINDOW_FRAMES,
    DIRECTOGRAM_SMOOTH_FRAMES,
    MAX_TEMPO_BPM,
    MIN_BEAT_GAP_S,
    MIN_TEMPO_BPM,
    PHASE_TOLERANCE_S,
    REGULAR_BEAT_MADS,
    REGULAR_BEAT_MIN_SALIENCY,
    TEMPO_MIN_BEATS,
    TEMPO_MIN_CONFIDENCE,
)

_ENVELOPE_HZ = 100.0  # the saliency envelope is resampled to this rate for the tempo search
_TEMPO_STEP_BPM = 0.25
_TEMPO_PRIOR_BPM = 110.0  # a weak log-normal prior (1 octave wide) breaks near-ties


@dataclass(frozen=True)
class VisualBeats:
    """Visual beats of a video.

    Attributes
    ----------
    times_s : np.ndarray [shape=(K,)]
        Beat times in seconds, increasing, at least ``MIN_BEAT_GAP_S`` apart.
    strengths : np.ndarray [shape=(K,)]
        Strength of each beat in 0..1; scene cuts have strength 1.
    is_cut : np.ndarray [shape=(K,), dtype=bool]
        Whether the beat is a scene cut.
    """

    times_s: np.ndarray
    strengths: np.ndarray
    is_cut: np.ndarray


@dataclass(frozen=True)
class TempoEstimate:
    """Dominant tempo of the saliency envelope.

    Attributes
    ----------
    bpm : float or None
        Tempo in beats per minute, in [MIN_TEMPO_BPM, MAX_TEMPO_BPM]; None when
        the motion has no clear period.
    confidence : float
        Normalized autocorrelation at the chosen period, -1..1.
    """

    bpm: float | None
    confidence: float


def frame_rate(times_s: np.ndarray) -> float:
    """Median frames per second of a time array (25 for fewer than two frames)."""
    if len(times_s) < 2:
        return 25.0
    return float(1.0 / np.median(np.diff(times_s)))


def detect_cuts(times_s: np.ndarray, thumb_diff: np.ndarray) -> np.ndarray:
    """Hard cuts: frames whose thumbnail differs from the last far more than usual.

    A frame is a cut when its difference exceeds ``CUT_MIN_DIFF`` and
    ``CUT_MEDIAN_RATIO`` times the median of its ``CUT_WINDOW_FRAMES``
    neighbours on each side plus ``CUT_MEDIAN_OFFSET``. Of cuts closer than
    ``MIN_BEAT_GAP_S`` (flashes), only the largest is kept.

    Parameters
    ----------
    times_s : np.ndarray [shape=(N,)]
        Frame times in seconds.
    thumb_diff : np.ndarray [shape=(N,)]
        Thumbnail difference to the previous frame, 0..255.

    Returns
    -------
    np.ndarray [shape=(C,), dtype=int]
        Index of the first frame of each new shot, increasing.
    """
    local = median_filter(thumb_diff, size=2 * CUT_WINDOW_FRAMES + 1, mode="nearest")
    threshold = np.maximum(CUT_MIN_DIFF, CUT_MEDIAN_RATIO * local + CUT_MEDIAN_OFFSET)
    candidates = np.flatnonzero(thumb_diff > threshold)
    keep = _suppress_close(times_s[candidates], thumb_diff[candidates], gap_s=MIN_BEAT_GAP_S)
    return candidates[np.sort(keep)]


def _suppress_close(times_s: np.ndarray, heights: np.ndarray, *, gap_s: float) -> np.ndarray:
    """Indices of the peaks kept by greedy non-maximum suppression in time."""
    kept: list[int] = []
    for i in np.argsort(-heights, kind="stable"):
        if all(abs(times_s[i] - times_s[j]) >= gap_s for j in kept):
            kept.append(int(i))
    return np.asarray(kept, dtype=int)


def saliency_envelope(directogram: np.ndarray, cut_frames: np.ndarray) -> np.ndarray:
    """Motion saliency: the summed per-direction deceleration at each frame.

    The directogram D is first smoothed over time within each shot (Gaussian,
    sigma ``DIRECTOGRAM_SMOOTH_FRAMES`` frames) to tame frame-to-frame
    jitter; then ``saliency[j] = sum_k max(0, D[j, k] - D[j + 1, k])``: the
    flow energy in direction k drops between the interval ending at frame j
    and the one starting there, so the change is placed at frame j. Flow
    across a scene cut is meaningless, so the saliency next to a cut is zero.

    Parameters
    ----------
    directogram : np.ndarray [shape=(N, bins)]
        Per-frame flow energy per direction, frame diagonals per second.
    cut_frames : np.ndarray [shape=(C,), dtype=int]
        First frames of new shots.

    Returns
    -------
    np.ndarray [shape=(N,)]
        Saliency in frame diagonals per second, >= 0.
    """
    shots = np.split(np.asarray(directogram, float), cut_frames)
    smooth = np.concatenate([gaussian_filter1d(s, DIRECTOGRAM_SMOOTH_FRAMES, axis=0, mode="nearest") for s in shots if len(s)])
    saliency = np.zeros(len(directogram))
    saliency[:-1] = np.maximum(smooth[:-1] - smooth[1:], 0.0).sum(axis=1)
    for cut in cut_frames:
        saliency[max(cut - 1, 0) : cut + 1] = 0.0
    return saliency


def _local_level(saliency: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(local median, local median absolute deviation) of the saliency over +-``BEAT_WINDOW_S``."""
    size = 2 * max(int(round(BEAT_WINDOW_S * fps)), 1) + 1
    local = median_filter(saliency, size=size, mode="nearest")
    return local, median_filter(np.abs(saliency - local), size=size, mode="nearest")


def _adaptive_threshold(saliency: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(local median, threshold) arrays for beat picking."""
    local, mad = _local_level(saliency, fps)
    floor = max(BEAT_MIN_SALIENCY, BEAT_MIN_RELATIVE * float(np.percentile(saliency, 99)))
    return local, np.maximum(local + BEAT_THRESHOLD_MADS * mad, floor)


def _peaks(saliency: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Indices of local maxima of ``saliency`` above ``threshold``."""
    inner = np.arange(1, len(saliency) - 1)
    is_peak = (saliency[inner] >= saliency[inner - 1]) & (saliency[inner] > saliency[inner + 1]) & (saliency[inner] > threshold[inner])
    return inner[is_peak]


def detect_visual_beats(times_s: np.ndarray, saliency: np.ndarray, cut_frames: np.ndarray) -> VisualBeats:
    """Visual beats: local maxima of saliency above an adaptive threshold, plus cuts.

    The threshold is the local median (window of ``2 * BEAT_WINDOW_S``) plus
    ``BEAT_THRESHOLD_MADS`` local median absolute deviations, and at least an
    absolute floor (``BEAT_MIN_SALIENCY``) and a fraction
    (``BEAT_MIN_RELATIVE``) of the clip's 99th percentile. Peaks closer than
    ``MIN_BEAT_GAP_S`` keep the largest; cuts win over motion peaks. Strength
    is the peak over the 90th percentile of all peaks, clipped to 1.

    Parameters
    ----------
    times_s : np.ndarray [shape=(N,)]
        Frame times in seconds.
    saliency : np.ndarray [shape=(N,)]
        From :func:`saliency_envelope`.
    cut_frames : np.ndarray [shape=(C,), dtype=int]
        From :func:`detect_cuts`.

    Returns
    -------
    VisualBeats
    """
    _, threshold = _adaptive_threshold(saliency, frame_rate(times_s))
    peaks = _peaks(saliency, threshold)
    heights = saliency[peaks]
    reference = float(np.percentile(heights, 90)) if len(heights) else 1.0
    strengths = np.concatenate([np.ones(len(cut_frames)), np.clip(heights / reference, 0.0, 1.0)])
    frames = np.concatenate([cut_frames, peaks]).astype(int)
    priority = strengths + np.concatenate([np.ones(len(cut_frames)), np.zeros(len(peaks))])
    keep = _suppress_close(times_s[frames], priority, gap_s=MIN_BEAT_GAP_S)
    keep = keep[np.argsort(times_s[frames[keep]], kind="stable")] if len(keep) else keep
    return VisualBeats(
        times_s=times_s[frames[keep]] if len(keep) else np.zeros(0),
        strengths=strengths[keep] if len(keep) else np.zeros(0),
        is_cut=np.arange(len(frames))[keep] < len(cut_frames) if len(keep) else np.zeros(0, bool),
    )


def add_regular_beats(times_s: np.ndarray, saliency: np.ndarray, beats: VisualBeats, grid_beats_s: np.ndarray) -> VisualBeats:
    """``beats`` plus the weak peaks that fall on the periodic grid: regular motion too faint for the clip-wide threshold.

    Once a grid is fitted to a periodic video, a saliency peak within
    ``PHASE_TOLERANCE_S`` of a grid beat needs only to stand
    ``REGULAR_BEAT_MADS`` local deviations above the local median (and over
    ``REGULAR_BEAT_MIN_SALIENCY``): the slow passages of a clip whose fast
    passages set the clip-wide threshold keep their beats. Their strength is
    measured against the same reference as the strong beats.

    Parameters
    ----------
    times_s, saliency : np.ndarray [shape=(N,)]
        Frame times (seconds) and saliency.
    beats : VisualBeats
        From :func:`detect_visual_beats`.
    grid_beats_s : np.ndarray [shape=(G,)]
        The fitted grid's beat times in seconds.

    Returns
    -------
    VisualBeats
        Sorted by time, at least ``MIN_BEAT_GAP_S`` apart (the existing beats win).
    """
    local, mad = _local_level(saliency, frame_rate(times_s))
    peaks = _peaks(saliency, np.maximum(local + REGULAR_BEAT_MADS * mad, REGULAR_BEAT_MIN_SALIENCY))
    if len(peaks) == 0 or len(grid_beats_s) == 0:
        return beats
    on_grid = np.abs(grid_beats_s[None, :] - times_s[peaks][:, None]).min(axis=1) <= PHASE_TOLERANCE_S
    peaks = peaks[on_grid]
    strict = _peaks(saliency, _adaptive_threshold(saliency, frame_rate(times_s))[1])
    reference = float(np.percentile(saliency[strict], 90)) if len(strict) else float(saliency.max(initial=1e-9))
    times = np.concatenate([beats.times_s, times_s[peaks]])
    strengths = np.concatenate([beats.strengths, np.clip(saliency[peaks] / max(reference, 1e-9), 0.0, 1.0)])
    is_cut = np.concatenate([beats.is_cut, np.zeros(len(peaks), bool)])
    priority = np.concatenate([np.full(len(beats.times_s), 2.0), strengths[len(beats.times_s) :]])
    keep = _suppress_close(times, priority, gap_s=MIN_BEAT_GAP_S)
    keep = keep[np.argsort(times[keep], kind="stable")]
    return VisualBeats(times_s=times[keep], strengths=strengths[keep], is_cut=is_cut[keep])


def _envelope(times_s: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """Saliency above its local median, resampled to ``_ENVELOPE_HZ`` and lightly smoothed."""
    local, _ = _adaptive_threshold(saliency, frame_rate(times_s))
    novelty = np.maximum(saliency - local, 0.0)
    grid_s = np.arange(0.0, times_s[-1], 1.0 / _ENVELOPE_HZ)
    return gaussian_filter1d(np.interp(grid_s, times_s, novelty), sigma=2.0)


def _autocorrelation(envelope: np.ndarray) -> np.ndarray:
    """Normalized autocorrelation (lag 0 = 1) via FFT."""
    centered = envelope - envelope.mean()
    n = len(centered)
    spectrum = np.fft.rfft(centered, 2 * n)
    ac = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    return ac / ac[0] if ac[0] > 0 else np.zeros(n)


def estimate_tempo(times_s: np.ndarray, saliency: np.ndarray, *, n_beats: int) -> TempoEstimate:
    """Dominant period of the saliency envelope, folded into 70..150 BPM.

    Each candidate tempo T (in 0.25 BPM steps) scores
    ``ac(T) + 0.5 * ac(2 T)`` on the normalized autocorrelation of the
    envelope, so that a period outside the range (say 0.3 s, 200 BPM) is
    folded onto its multiple inside it; a weak prior centred on 110 BPM
    breaks near-ties. The tempo is None when fewer than ``TEMPO_MIN_BEATS``
    beats were found, the clip is shorter than two periods, or the best
    autocorrelation is below ``TEMPO_MIN_CONFIDENCE``.

    Parameters
    ----------
    times_s, saliency : np.ndarray [shape=(N,)]
        Frame times (seconds) and saliency.
    n_beats : int
        Number of visual beats found.

    Returns
    -------
    TempoEstimate
    """
    if n_beats < TEMPO_MIN_BEATS or len(times_s) < 2 or times_s[-1] < 2 * 60.0 / MAX_TEMPO_BPM:
        return TempoEstimate(bpm=None, confidence=0.0)
    ac = _autocorrelation(_envelope(times_s, saliency))
    lags = np.arange(len(ac)) / _ENVELOPE_HZ
    bpms = np.arange(MIN_TEMPO_BPM, MAX_TEMPO_BPM + 1e-9, _TEMPO_STEP_BPM)
    periods_s = 60.0 / bpms
    at_period = np.interp(periods_s, lags, ac, right=0.0)
    at_double = np.interp(2 * periods_s, lags, ac, right=0.0)
    prior = np.exp(-0.5 * np.log2(bpms / _TEMPO_PRIOR_BPM) ** 2)
    best = int(np.argmax((at_period + 0.5 * at_double) * (0.8 + 0.2 * prior)))
    confidence = float(at_period[best])
    if confidence < TEMPO_MIN_CONFIDENCE:
        return TempoEstimate(bpm=None, confidence=confidence)
    return TempoEstimate(bpm=float(bpms[best]), confidence=confidence)
