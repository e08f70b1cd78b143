"""Rhythm of a video from its per-frame motion: scene cuts, saliency, visual beats, tempo.

All functions are pure and work on the arrays of :class:`~cmtlite.video.motion.FrameMotion`.
The saliency follows Davis & Agrawala's "directogram" (Visual Rhythm and Beat,
SIGGRAPH 2018), as CMT does: motion is binned by direction and a visual beat is
a deceleration or change of direction of the motion: an impact, a stop, or a
turn at any speed, sudden (a bounce) or smooth (a pendulum's extreme, a step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter, uniform_filter1d

from cmtlite.constants import (
    BEAT_MIN_LEVEL,
    BEAT_MIN_SALIENCY,
    BEAT_THRESHOLD_MADS,
    BEAT_WINDOW_S,
    CAMERA_MIN_SPEED,
    CAMERA_SHAKE_MIN_FPS,
    CAMERA_SMOOTH_S,
    CUT_MEDIAN_OFFSET,
    CUT_MEDIAN_RATIO,
    CUT_MIN_DIFF,
    CUT_WINDOW_FRAMES,
    DECELERATION_SMOOTH_S,
    FLOW_GLITCH_S,
    MAX_TEMPO_BPM,
    MIN_BEAT_GAP_S,
    MIN_TEMPO_BPM,
    MOTION_LEVEL_WINDOW_S,
    PHASE_TOLERANCE_S,
    REGULAR_BEAT_MADS,
    REGULAR_BEAT_MIN_LEVEL,
    REVERSAL_WINDOW_S,
    TEMPO_MIN_BEATS,
    TEMPO_MIN_CONFIDENCE,
)
from cmtlite.timing import tempo_to_beat_s
from cmtlite.video.motion import direction_basis

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


def scene_directogram(directogram: np.ndarray, camera: np.ndarray, cut_frames: np.ndarray, *, fps: float) -> np.ndarray:
    """The directogram of what the viewer sees move: motion relative to the camera plus the camera's steady motion.

    The camera's motion (each frame's median flow) is smoothed within each
    shot by a Gaussian of sigma ``CAMERA_SMOOTH_S``: a pan and its stop stay,
    hand-held shake (frame-to-frame jitter) goes, and so do the false stops
    and reversals it would put everywhere. The smoothed motion moves every
    pixel, so it adds its projection on each direction in full.

    Parameters
    ----------
    directogram : np.ndarray [shape=(N, bins)]
        Flow energy per direction relative to the camera, frame diagonals per second.
    camera : np.ndarray [shape=(N, 2)]
        The camera's motion (x, y), frame diagonals per second.
    cut_frames : np.ndarray [shape=(C,), dtype=int]
        First frames of new shots.
    fps : float > 0
        Frame rate of the analyzed frames.

    Returns
    -------
    np.ndarray [shape=(N, bins)]
        Frame diagonals per second, >= 0.
    """
    directogram, steady = _across_cuts(directogram, cut_frames), _across_cuts(camera, cut_frames)
    if fps >= CAMERA_SHAKE_MIN_FPS:
        shots = np.split(steady, cut_frames)
        steady = np.concatenate([gaussian_filter1d(s, CAMERA_SMOOTH_S * fps, axis=0, mode="nearest") for s in shots if len(s)])
        speed = np.hypot(steady[:, 0], steady[:, 1])[:, None]
        steady *= np.maximum(speed - CAMERA_MIN_SPEED, 0.0) / np.maximum(speed, 1e-12)  # what is left of the shake is no pan
    return directogram + np.maximum(steady @ direction_basis(directogram.shape[1]), 0.0)


def _across_cuts(motion: np.ndarray, cut_frames: np.ndarray) -> np.ndarray:
    """A copy of per-frame ``motion`` (N, ...) in which each cut frame (flow across the cut: meaningless) takes the next frame's."""
    motion = np.array(motion, float)
    inside = cut_frames[cut_frames + 1 < len(motion)]
    motion[inside] = motion[inside + 1]
    return motion


def _window_means(values: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean of rows j-frames+1..j, mean of rows j+1..j+frames) for each row j, truncated at the ends (zero past the end)."""
    n = len(values)
    total = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
    j = np.arange(n)
    first, last = np.maximum(j - frames + 1, 0), np.minimum(j + frames, n - 1)
    shape = (n,) + (1,) * (values.ndim - 1)
    before = (total[j + 1] - total[first]) / (j + 1 - first).reshape(shape)
    after = (total[last + 1] - total[j + 1]) / np.maximum(last - j, 1).reshape(shape)
    return before, after


def _shot_saliency(directogram: np.ndarray, fps: float) -> np.ndarray:
    """Stops plus reversals of one shot's directogram (see :func:`saliency_envelope`)."""
    glitch_frames, reversal_frames = int(round(FLOW_GLITCH_S * fps)), max(int(round(REVERSAL_WINDOW_S * fps)), 1)
    steady = median_filter(directogram, size=(2 * glitch_frames + 1, 1), mode="nearest")  # a flow glitch is no stop
    smooth = gaussian_filter1d(steady, DECELERATION_SMOOTH_S * fps, axis=0, mode="nearest")
    deceleration = np.zeros_like(smooth)
    deceleration[:-1] = np.maximum(smooth[:-1] - smooth[1:], 0.0)
    before, after = _window_means(steady, reversal_frames)
    opposite = np.roll(after, directogram.shape[1] // 2, axis=1)  # column k: the direction opposite bin k
    reversal = np.maximum((np.minimum(before, opposite) - np.minimum(before, after)).sum(axis=1), 0.0)
    stays = np.clip(1.0 - opposite / np.maximum(before, 1e-12), 0.0, 1.0)  # the share of direction k that does not come back
    return (deceleration * stays).sum(axis=1) + reversal


def saliency_envelope(directogram: np.ndarray, cut_frames: np.ndarray, *, fps: float) -> np.ndarray:
    """Motion saliency: the summed per-direction deceleration and reversal at each frame.

    The directogram is first median-filtered over time (+-``FLOW_GLITCH_S``;
    none below 20 frames/s): a flow estimate gone wrong on one frame is no
    event. Then two terms, both in frame diagonals per second:

    - deceleration (Davis & Agrawala's impact envelope): the directogram D,
      smoothed over time within each shot (Gaussian, sigma
      ``DECELERATION_SMOOTH_S``), gives ``max(0, D[j, k] - D[j + 1, k])``:
      the flow energy in direction k drops between the interval ending at
      frame j and the one starting there. Each direction's drop counts for
      the share of it that does not come back the opposite way (a turn is
      the second term's): a sudden stop or impact.
    - reversal: with B and A the mean of D over ``REVERSAL_WINDOW_S`` before
      and after frame j, ``max(0, sum_k min(B_k, A_opp(k)) - min(B_k, A_k))``:
      the energy that moved one way before and the opposite way after, less
      the energy that kept its direction. A turn at any speed, sudden (a
      bounce) or smooth (a pendulum's extreme, a step, a swing), peaks at the
      turn; jitter, noise and camera shake move every way before and after
      and cancel.

    Flow across a scene cut is meaningless: the shots are treated apart and
    the saliency next to a cut is zero.

    Parameters
    ----------
    directogram : np.ndarray [shape=(N, bins)]
        Per-frame flow energy per direction, frame diagonals per second (``bins`` even).
    cut_frames : np.ndarray [shape=(C,), dtype=int]
        First frames of new shots.
    fps : float > 0
        Frame rate of the analyzed frames, frames per second.

    Returns
    -------
    np.ndarray [shape=(N,)]
        Saliency in frame diagonals per second, >= 0.
    """
    shots = np.split(np.asarray(directogram, float), cut_frames)
    saliency = np.concatenate([_shot_saliency(s, fps) for s in shots if len(s)])
    for cut in cut_frames:
        saliency[max(cut - 1, 0) : cut + 1] = 0.0
    return saliency


def motion_level(directogram: np.ndarray, *, fps: float) -> np.ndarray:
    """Local level of directed motion, averaged over +-``MOTION_LEVEL_WINDOW_S``, shape (N,), frame diagonals per second.

    Directed motion is ``sum_k max(0, D[j, k] - D[j, opp(k)])``: what moves
    one way more than the opposite way, so that noise (every way at once)
    does not count. A clean reversal's saliency is about this level whatever
    the speed, so beat thresholds are set as fractions of it.
    """
    directogram = np.asarray(directogram, float)
    directed = np.maximum(directogram - np.roll(directogram, directogram.shape[1] // 2, axis=1), 0.0).sum(axis=1)
    frames = max(int(round(MOTION_LEVEL_WINDOW_S * fps)), 1)
    return uniform_filter1d(directed, 2 * frames + 1, mode="nearest")


def _local_level(saliency: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(local median, local median absolute deviation) of the saliency over +-``BEAT_WINDOW_S``."""
    size = 2 * max(int(round(BEAT_WINDOW_S * fps)), 1) + 1
    local = median_filter(saliency, size=size, mode="nearest")
    return local, median_filter(np.abs(saliency - local), size=size, mode="nearest")


def _adaptive_threshold(saliency: np.ndarray, level: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(local median, threshold) arrays for beat picking."""
    local, mad = _local_level(saliency, fps)
    return local, np.maximum(local + BEAT_THRESHOLD_MADS * mad, np.maximum(BEAT_MIN_LEVEL * level, BEAT_MIN_SALIENCY))


def _peaks(saliency: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Indices of local maxima of ``saliency`` above ``threshold``."""
    inner = np.arange(1, len(saliency) - 1)
    is_peak = (saliency[inner] >= saliency[inner - 1]) & (saliency[inner] > saliency[inner + 1]) & (saliency[inner] > threshold[inner])
    return inner[is_peak]


def detect_visual_beats(times_s: np.ndarray, saliency: np.ndarray, cut_frames: np.ndarray, *, level: np.ndarray) -> VisualBeats:
    """Visual beats: local maxima of saliency above an adaptive threshold, plus cuts.

    The threshold is the local median (window of ``2 * BEAT_WINDOW_S``) plus
    ``BEAT_THRESHOLD_MADS`` local median absolute deviations, and at least an
    absolute floor (``BEAT_MIN_SALIENCY``) and a fraction
    (``BEAT_MIN_LEVEL``) of the local motion level: a slow passage keeps its
    beats next to a fast one, a still shot's noise makes none. Peaks closer than
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
    level : np.ndarray [shape=(N,)]
        From :func:`motion_level`, frame diagonals per second.

    Returns
    -------
    VisualBeats
    """
    _, threshold = _adaptive_threshold(saliency, level, frame_rate(times_s))
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


def add_regular_beats(
    times_s: np.ndarray, saliency: np.ndarray, beats: VisualBeats, grid_beats_s: np.ndarray, *, level: np.ndarray
) -> VisualBeats:
    """``beats`` plus the weak peaks that fall on the periodic grid: regular motion too faint for the clip-wide threshold.

    Once a grid is fitted to a periodic video, a saliency peak within
    ``PHASE_TOLERANCE_S`` of a grid beat needs only to stand
    ``REGULAR_BEAT_MADS`` local deviations above the local median (and over
    ``REGULAR_BEAT_MIN_LEVEL`` of the local motion level and ``BEAT_MIN_SALIENCY``): the slow passages of a clip whose fast
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
    level : np.ndarray [shape=(N,)]
        From :func:`motion_level`.

    Returns
    -------
    VisualBeats
        Sorted by time, at least ``MIN_BEAT_GAP_S`` apart (the existing beats win).
    """
    local, mad = _local_level(saliency, frame_rate(times_s))
    floor = np.maximum(REGULAR_BEAT_MIN_LEVEL * level, BEAT_MIN_SALIENCY)
    peaks = _peaks(saliency, np.maximum(local + REGULAR_BEAT_MADS * mad, floor))
    if len(peaks) == 0 or len(grid_beats_s) == 0:
        return beats
    on_grid = np.abs(grid_beats_s[None, :] - times_s[peaks][:, None]).min(axis=1) <= PHASE_TOLERANCE_S
    peaks = peaks[on_grid]
    strict = _peaks(saliency, _adaptive_threshold(saliency, level, frame_rate(times_s))[1])
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
    local, _ = _local_level(saliency, frame_rate(times_s))
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
    if n_beats < TEMPO_MIN_BEATS or len(times_s) < 2 or times_s[-1] < 2 * tempo_to_beat_s(MAX_TEMPO_BPM):
        return TempoEstimate(bpm=None, confidence=0.0)
    ac = _autocorrelation(_envelope(times_s, saliency))
    lags = np.arange(len(ac)) / _ENVELOPE_HZ
    bpms = np.arange(MIN_TEMPO_BPM, MAX_TEMPO_BPM + 1e-9, _TEMPO_STEP_BPM)
    periods_s = tempo_to_beat_s(bpms)
    at_period = np.interp(periods_s, lags, ac, right=0.0)
    at_double = np.interp(2 * periods_s, lags, ac, right=0.0)
    prior = np.exp(-0.5 * np.log2(bpms / _TEMPO_PRIOR_BPM) ** 2)
    best = int(np.argmax((at_period + 0.5 * at_double) * (0.8 + 0.2 * prior)))
    confidence = float(at_period[best])
    if confidence < TEMPO_MIN_CONFIDENCE:
        return TempoEstimate(bpm=None, confidence=confidence)
    return TempoEstimate(bpm=float(bpms[best]), confidence=confidence)
