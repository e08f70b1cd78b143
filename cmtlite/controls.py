"""Controls stage: place a video on a 4/4 grid and turn its motion into music controls.

The grid follows the video's tempo and phase so that grid beats fall on the
visual beats (the grid may start before the video: a pickup). Each bar gets a
simu-note *density* from its motion speed and each beat a *strength level*
from the visual beats on it. Both mappings are quantile matches read from a
versioned calibration file (``models/calibration.json``), not constants in code.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cmtlite import __version__
from cmtlite.constants import (
    BEATS_PER_BAR,
    CALIBRATION_PATH,
    DEFAULT_TEMPO_BPM,
    MAX_TEMPO_BPM,
    MIN_TEMPO_BPM,
    PHASE_TOLERANCE_S,
    TICKS_PER_BEAT,
    USER_TEMPO_RANGE_BPM,
)
from cmtlite.errors import ConfigError
from cmtlite.video.decode import VideoInfo, probe_video
from cmtlite.video.motion import FrameMotion, measure_motion
from cmtlite.video.rhythm import (
    VisualBeats,
    detect_cuts,
    detect_visual_beats,
    estimate_tempo,
    saliency_envelope,
)

_REFINE_SPAN = 0.03  # the tempo is refined within +-3 % of the autocorrelation estimate
_REFINE_STEPS = 61
_PHASE_STEPS = 64


@dataclass(frozen=True)
class Calibration:
    """Quantile tables that map video measurements to the codec's control units.

    Attributes
    ----------
    version : int
        Format version of the file.
    source : str
        Where the tables come from (human-readable).
    probabilities : tuple of float
        Increasing probabilities in [0, 1] at which the quantiles are taken.
    speed_quantiles : tuple of float
        Per-bar motion speed of reference videos at those probabilities, in
        frame diagonals per second.
    density_quantiles : tuple of float
        Bar density of the training corpus (distinct onset ticks per bar, 0..16).
    strength_quantiles : tuple of float
        Position strength of the training corpus (notes starting on an onset tick).
    """

    version: int
    source: str
    probabilities: tuple[float, ...]
    speed_quantiles: tuple[float, ...]
    density_quantiles: tuple[float, ...]
    strength_quantiles: tuple[float, ...]

    def __post_init__(self) -> None:
        tables = (self.probabilities, self.speed_quantiles, self.density_quantiles, self.strength_quantiles)
        if len({len(t) for t in tables}) != 1 or len(self.probabilities) < 2:
            msg = f"calibration tables must have one common length >= 2 (got {[len(t) for t in tables]})"
            raise ConfigError(msg)
        for name, table in zip(("probabilities", "speed", "density", "strength"), tables, strict=True):
            values = np.asarray(table, float)
            if not np.all(np.isfinite(values)) or np.any(np.diff(values) < 0):
                msg = f"calibration {name} table must be finite and non-decreasing"
                raise ConfigError(msg)

    def speed_to_density(self, speed: np.ndarray) -> np.ndarray:
        """Bar density (onset ticks per bar, int 0..16) for motion speeds (diagonals per second)."""
        prob = np.interp(speed, self.speed_quantiles, self.probabilities)
        density = np.interp(prob, self.probabilities, self.density_quantiles)
        return np.clip(np.rint(density), 0, TICKS_PER_BEAT * BEATS_PER_BAR).astype(int)

    def strength_to_level(self, strength: np.ndarray) -> np.ndarray:
        """Strength level (codec units, int >= 1) for visual-beat strengths in 0..1."""
        level = np.interp(strength, self.probabilities, self.strength_quantiles)
        return np.maximum(np.rint(level), 1).astype(int)

    def to_json(self) -> dict[str, Any]:
        """The calibration as a JSON-ready dict."""
        return {
            "version": self.version,
            "source": self.source,
            "probabilities": list(self.probabilities),
            "speed_quantiles": list(self.speed_quantiles),
            "density_quantiles": list(self.density_quantiles),
            "strength_quantiles": list(self.strength_quantiles),
        }


def load_calibration(path: Path = CALIBRATION_PATH) -> Calibration:
    """Read a calibration file (JSON with the fields of :class:`Calibration`).

    Raises
    ------
    ConfigError
        The file is missing, not JSON, or its tables are malformed.
    """
    try:
        raw = json.loads(Path(path).read_text())
        return Calibration(
            version=int(raw["version"]),
            source=str(raw["source"]),
            probabilities=tuple(float(x) for x in raw["probabilities"]),
            speed_quantiles=tuple(float(x) for x in raw["speed_quantiles"]),
            density_quantiles=tuple(float(x) for x in raw["density_quantiles"]),
            strength_quantiles=tuple(float(x) for x in raw["strength_quantiles"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = f"{path}: not a valid calibration file ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err


def histogram_quantiles(histogram: np.ndarray, probabilities: tuple[float, ...]) -> tuple[float, ...]:
    """Quantiles of integer values 0..len-1 counted in ``histogram``: the smallest value whose CDF reaches each probability."""
    cdf = np.cumsum(histogram) / max(float(np.sum(histogram)), 1.0)
    return tuple(float(np.searchsorted(cdf, np.clip(p, 1e-12, cdf[-1]))) for p in probabilities)


def calibration_from_corpus(meta: dict[str, Any], base: Calibration, *, source: str) -> Calibration:
    """``base`` with its density and strength tables replaced by a prepared corpus's statistics.

    ``meta`` is a corpus ``meta.json``; its training split's non-empty bars
    give the density table and its onset positions the strength table.
    """
    try:
        stats = meta["statistics"]
        density = np.asarray(stats["bar_density_histogram"], float)
        strength = np.asarray(stats["position_strength_histogram"], float)
    except (KeyError, TypeError) as err:
        msg = f"not a corpus meta.json with statistics ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err
    density[0], strength[0] = 0, 0  # empty bars and strength 0 do not occur under motion or a visual beat
    if density.sum() == 0 or strength.sum() == 0:
        msg = "the corpus statistics are empty"
        raise ConfigError(msg)
    return dataclasses.replace(
        base,
        source=source,
        density_quantiles=histogram_quantiles(density, base.probabilities),
        strength_quantiles=histogram_quantiles(strength, base.probabilities),
    )


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


@dataclass(frozen=True)
class Analysis:
    """Everything ``cmtlite analyze`` finds in a video (see :meth:`to_json` for the contract)."""

    info: VideoInfo
    duration_s: float
    motion: FrameMotion
    saliency: np.ndarray
    cut_frames: np.ndarray
    beats: VisualBeats
    grid: Grid
    tempo_source: str
    tempo_confidence: float
    bar_speed: np.ndarray
    bar_density: np.ndarray
    beat_levels: np.ndarray
    calibration: Calibration
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``controls.json`` object (keys of the contract plus extras)."""
        r4 = _rounder(4)
        beat_times = self.grid.beat_times_s()
        return {
            "cmtlite_version": __version__,
            "video_path": str(self.info.path),
            "duration_s": round(self.duration_s, 6),
            "fps": round(self.info.fps, 6),
            "width": self.info.width,
            "height": self.info.height,
            "n_frames": self.motion.n_decoded,
            "n_analyzed_frames": len(self.motion.times_s),
            "has_audio": self.info.has_audio,
            "tempo_bpm": round(self.grid.tempo_bpm, 3),
            "tempo_source": self.tempo_source,
            "tempo_confidence": round(self.tempo_confidence, 3),
            "ticks_per_beat": TICKS_PER_BEAT,
            "beats_per_bar": BEATS_PER_BAR,
            "n_bars": self.grid.n_bars,
            "grid_start_s": round(self.grid.start_s, 6),
            "visual_beats": [
                {"time_s": r4(t), "strength": round(float(s), 3), "is_cut": bool(c)}
                for t, s, c in zip(self.beats.times_s, self.beats.strengths, self.beats.is_cut, strict=True)
            ],
            "scene_cuts_s": [r4(self.motion.times_s[i]) for i in self.cut_frames],
            "bars": [
                {"index": b, "start_s": r4(t), "motion_speed": round(float(v), 5), "density": int(d)}
                for b, (t, v, d) in enumerate(zip(self.grid.bar_times_s(), self.bar_speed, self.bar_density, strict=True))
            ],
            "beats": [
                {"index": k, "time_s": r4(t), "strength_level": int(s)}
                for k, (t, s) in enumerate(zip(beat_times, self.beat_levels, strict=True))
            ],
            "frame_motion": {
                "times_s": [r4(t) for t in self.motion.times_s],
                "speed": [round(float(v), 5) for v in self.motion.speed],
                "saliency": [round(float(v), 5) for v in self.saliency],
            },
            "calibration": {"version": self.calibration.version, "source": self.calibration.source},
            "warnings": self.warnings,
        }


def _rounder(digits: int):  # noqa: ANN202
    return lambda x: round(float(x), digits)


def _video_duration_s(info: VideoInfo, times_s: np.ndarray) -> float:
    """Video duration in seconds: the container's, or the last frame's end if later."""
    frame_s = float(np.median(np.diff(times_s))) if len(times_s) > 1 else 1.0 / (info.fps or 25.0)
    return max(info.duration_s, float(times_s[-1]) + frame_s)


def check_tempo(tempo_bpm: float) -> float:
    """Validate a user tempo in beats per minute; return it as float.

    Raises
    ------
    ConfigError
        Not finite or outside ``USER_TEMPO_RANGE_BPM``.
    """
    low, high = USER_TEMPO_RANGE_BPM
    if not (math.isfinite(tempo_bpm) and low <= tempo_bpm <= high):
        msg = f"--tempo must be between {low:g} and {high:g} BPM (got {tempo_bpm:g})"
        raise ConfigError(msg)
    return float(tempo_bpm)


def read_controls(path: Path) -> dict[str, Any]:
    """A ``controls.json`` written by ``cmtlite analyze``, checked so later stages can trust it.

    Checked: a JSON object with ``tempo_bpm`` (30..300), ``duration_s`` (> 0),
    ``grid_start_s`` (finite, <= 0), ``n_bars`` (>= 1), ``bars`` (``n_bars``
    objects with ``start_s`` and an integer ``density`` 0..16), ``beats`` (4
    per bar, ``time_s`` and an integer ``strength_level`` >= 0) and
    ``visual_beats`` / ``scene_cuts_s`` (finite times, strengths 0..1).

    Raises
    ------
    ConfigError
        Unreadable, not JSON, or a key missing, of the wrong type, not finite or out of range (named).
    """
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        msg = f"{path}: not a controls.json from `cmtlite analyze` ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err
    try:
        _check_controls(obj)
    except (KeyError, TypeError, ValueError) as err:
        msg = f"{path}: bad controls.json: {err}"
        raise ConfigError(msg) from err
    return obj


def _number(value: object, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        msg = f"{name} must be a finite number in [{low:g}, {high:g}] (got {value!r})"
        raise ValueError(msg)
    return float(value)


def _whole(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        msg = f"{name} must be an integer in [{low}, {high}] (got {value!r})"
        raise ValueError(msg)
    return value


def _check_controls(obj: object) -> None:
    if not isinstance(obj, dict):
        msg = "not a JSON object"
        raise TypeError(msg)
    missing = sorted({"tempo_bpm", "duration_s", "grid_start_s", "n_bars", "bars", "beats"} - set(obj))
    if missing:
        msg = f"missing keys {missing}"
        raise KeyError(msg)
    _number(obj["tempo_bpm"], "tempo_bpm", *USER_TEMPO_RANGE_BPM)
    _number(obj["duration_s"], "duration_s", 1e-3)
    _number(obj["grid_start_s"], "grid_start_s", -3600.0, 0.0)
    n_bars = _whole(obj["n_bars"], "n_bars", 1, 100_000)
    bars, beats = obj["bars"], obj["beats"]
    if not isinstance(bars, list) or len(bars) != n_bars or not isinstance(beats, list) or len(beats) != n_bars * BEATS_PER_BAR:
        msg = f"need {n_bars} bars and {n_bars * BEATS_PER_BAR} beats (n_bars = {n_bars})"
        raise ValueError(msg)
    for i, bar in enumerate(bars):
        _number(bar["start_s"], f"bars[{i}].start_s")
        _whole(bar["density"], f"bars[{i}].density", 0, 16)
    for i, beat in enumerate(beats):
        _number(beat["time_s"], f"beats[{i}].time_s")
        _whole(beat["strength_level"], f"beats[{i}].strength_level", 0, 1000)
    for i, beat in enumerate(obj.get("visual_beats", [])):
        _number(beat["time_s"], f"visual_beats[{i}].time_s")
        _number(beat["strength"], f"visual_beats[{i}].strength", 0.0, 1.0)
    for i, cut in enumerate(obj.get("scene_cuts_s", [])):
        _number(cut, f"scene_cuts_s[{i}]")


def analyze_video(
    path: Path,
    *,
    tempo_bpm: float | None = None,
    calibration: Calibration | None = None,
    quiet: bool = True,
) -> Analysis:
    """Analyze a video's rhythm and derive its music controls.

    Parameters
    ----------
    path : Path
        The video file.
    tempo_bpm : float or None
        Force this tempo (beats per minute) instead of estimating it.
    calibration : Calibration or None
        Density and strength mapping (default: ``models/calibration.json``).
    quiet : bool
        No progress bar (default True).

    Returns
    -------
    Analysis

    Raises
    ------
    VideoReadError
        The video cannot be read or has no frames.
    ConfigError
        Bad tempo or calibration.
    """
    if tempo_bpm is not None:
        tempo_bpm = check_tempo(tempo_bpm)
    calibration = calibration or load_calibration()
    info = probe_video(Path(path))
    motion = measure_motion(info, quiet=quiet)
    cut_frames = detect_cuts(motion.times_s, motion.thumb_diff)
    speed = motion.speed.copy()
    speed[cut_frames] = speed[np.maximum(cut_frames - 1, 0)]  # flow across a cut is meaningless
    motion = dataclasses.replace(motion, speed=speed)
    saliency = saliency_envelope(motion.directogram, cut_frames)
    beats = detect_visual_beats(motion.times_s, saliency, cut_frames)
    warnings: list[str] = []
    if tempo_bpm is not None:
        source, confidence, bpm = "user", 1.0, tempo_bpm
    else:
        estimate = estimate_tempo(motion.times_s, saliency, n_beats=len(beats.times_s))
        source, confidence, bpm = "analysis", estimate.confidence, estimate.bpm
        if bpm is None:
            source, bpm = "default", DEFAULT_TEMPO_BPM
            warnings.append(f"no periodic motion found: tempo set to the default {DEFAULT_TEMPO_BPM:g} BPM")
    duration_s = _video_duration_s(info, motion.times_s)
    grid = fit_grid(beats, tempo_bpm=bpm, duration_s=duration_s, refine=source == "analysis")
    bar_speed = bar_speeds(grid, motion.times_s, motion.speed)
    return Analysis(
        info=info,
        duration_s=duration_s,
        motion=motion,
        saliency=saliency,
        cut_frames=cut_frames,
        beats=beats,
        grid=grid,
        tempo_source=source,
        tempo_confidence=confidence,
        bar_speed=bar_speed,
        bar_density=calibration.speed_to_density(bar_speed),
        beat_levels=beat_strength_levels(grid, beats, calibration),
        calibration=calibration,
        warnings=warnings,
    )
