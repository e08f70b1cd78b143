"""Evaluation: music-quality metrics of MIDI files and how well music follows a video's controls.

Positions come from the MIDI's ticks (beats = ticks / ticks_per_beat, onsets
quantized to 16ths, 4/4 bars of 16 positions); seconds from its tempo map.
Each metric is ``None`` where it is undefined (e.g. no non-drum notes).

* ``PE``: log2 entropy of the 128-bin pitch histogram of the non-drum notes.
* ``PCE``: mean over consecutive non-overlapping 4-bar windows that contain a
  non-drum note start, of the log2 entropy of the 12-bin pitch-class
  histogram of the non-drum notes starting in the window.
* ``SC``: the largest fraction of non-drum notes in one major scale.
* ``EBR``: fraction of beats k = 0 .. ceil(end of last note) - 1 whose
  [k, k + 1) overlaps no sounding note (drums included).
* ``IOI``: mean gap (s) between consecutive distinct onset times.
* ``GPS``: mean over all pairs of bars (up to the last onset's) of
  1 - Hamming distance / 16 between their binary onset-position vectors.
* ``SI``: bars' chroma vectors (non-drum note durations per pitch class,
  L2-normalized) give a cosine self-similarity matrix S; SI is the largest,
  over lags of 2..8 bars, mean of S's lag diagonal minus the mean of all
  off-diagonal entries: how much more a bar resembles the bar a phrase
  later than bars in general (0 for no repetition beyond the background).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import miditoolkit
import numpy as np
from scipy.stats import spearmanr

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.controls import VideoControls
from cmtlite.errors import ConfigError, MidiReadError
from cmtlite.timing import seconds_per_tick
from cmtlite.tokens.vocab import STRENGTH_CAP

MUSIC_METRICS = ("PE", "PCE", "SC", "EBR", "IOI", "GPS", "SI")
CONTROL_METRICS = ("density_spearman", "density_mae", "strength_mae", "beat_hit_rate")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
PCE_WINDOW_BARS = 4
SI_LAGS_BARS = range(2, 9)
BEAT_HIT_TOLERANCE_S = 0.07
BEAT_HIT_MIN_STRENGTH = 0.5


@dataclass(frozen=True)
class Notes:
    """A MIDI file's notes: arrays of shape (N,) sorted by start.

    Attributes: ``pitch``; ``start_beats``, ``end_beats`` (quarter notes);
    ``start_s``, ``end_s`` (seconds, from the tempo map); ``is_drum``.
    """

    pitch: np.ndarray
    start_beats: np.ndarray
    end_beats: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    is_drum: np.ndarray

    @property
    def onset_ticks(self) -> np.ndarray:
        """Onsets quantized to 16ths (grid ticks)."""
        return np.rint(self.start_beats * TICKS_PER_BEAT).astype(np.int64)


def read_notes(path: Path) -> Notes:
    """The notes of a MIDI file.

    Raises
    ------
    MidiReadError
        Unreadable file, or a file without notes.
    """
    try:
        midi = miditoolkit.MidiFile(str(path))
        tick_to_s = midi.get_tick_to_time_mapping()
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        msg = f"{path}: not a readable MIDI file ({err})"
        raise MidiReadError(msg) from err
    rows = [(n.pitch, n.start, max(n.end, n.start), t.is_drum) for t in midi.instruments for n in t.notes]
    if not rows:
        msg = f"{path}: the MIDI file has no notes"
        raise MidiReadError(msg)
    pitch, start, end, drum = (np.array(c) for c in zip(*sorted(rows, key=lambda r: (r[1], r[0])), strict=True))
    seconds = np.asarray(tick_to_s)
    return Notes(
        pitch=pitch,
        start_beats=start / midi.ticks_per_beat,
        end_beats=end / midi.ticks_per_beat,
        start_s=seconds[np.minimum(start, len(seconds) - 1)],
        end_s=seconds[np.minimum(end, len(seconds) - 1)],
        is_drum=drum.astype(bool),
    )


def _entropy_bits(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def music_metrics(notes: Notes) -> dict[str, float | None]:
    """PE, PCE, SC, EBR, IOI, GPS and SI of one piece (see the module doc)."""
    tonal = ~notes.is_drum
    pitches = notes.pitch[tonal]
    out: dict[str, float | None] = dict.fromkeys(MUSIC_METRICS)
    if len(pitches):
        out["PE"] = _entropy_bits(np.bincount(pitches, minlength=128).astype(float))
        window = (notes.start_beats[tonal] // (PCE_WINDOW_BARS * BEATS_PER_BAR)).astype(int)
        classes_per_window = [np.bincount(pitches[window == w] % 12, minlength=12).astype(float) for w in np.unique(window)]
        out["PCE"] = float(np.mean([_entropy_bits(c) for c in classes_per_window]))
        classes = np.bincount(pitches % 12, minlength=12)
        in_scale = [classes[[(root + step) % 12 for step in MAJOR_SCALE]].sum() for root in range(12)]
        out["SC"] = float(max(in_scale)) / len(pitches)
        out["SI"] = structureness(notes)
    n_beats = math.ceil(float(notes.end_beats.max()))
    if n_beats > 0:
        beats = np.arange(n_beats)
        sounding = (notes.start_beats[None, :] < beats[:, None] + 1) & (notes.end_beats[None, :] > beats[:, None])
        out["EBR"] = float(np.mean(~sounding.any(axis=1)))
    onsets = np.unique(notes.start_s)
    if len(onsets) > 1:
        out["IOI"] = float(np.mean(np.diff(onsets)))
    out["GPS"] = grooving_similarity(notes.onset_ticks)
    return out


def grooving_similarity(onset_ticks: np.ndarray) -> float | None:
    """Mean over pairs of bars of 1 - Hamming(onset vectors) / 16; None with fewer than 2 bars."""
    n_bars = int(onset_ticks.max()) // TICKS_PER_BAR + 1
    if n_bars < 2:
        return None
    grid = np.zeros((n_bars, TICKS_PER_BAR), bool)
    grid[onset_ticks // TICKS_PER_BAR, onset_ticks % TICKS_PER_BAR] = True
    packed = grid.astype(np.int8)
    distances = np.abs(packed[:, None, :] - packed[None, :, :]).sum(axis=-1)
    pairs = np.triu_indices(n_bars, k=1)
    return float(np.mean(1 - distances[pairs] / TICKS_PER_BAR))


def structureness(notes: Notes) -> float | None:
    """SI (see the module doc); None with fewer than 3 bars of non-drum notes."""
    tonal = ~notes.is_drum
    start, end, pitch = notes.start_beats[tonal], notes.end_beats[tonal], notes.pitch[tonal]
    n_bars = math.ceil(float(end.max()) / BEATS_PER_BAR)
    if n_bars < 3:
        return None
    chroma = np.zeros((n_bars, 12))
    for bar in range(n_bars):
        overlap = np.clip(np.minimum(end, (bar + 1) * BEATS_PER_BAR) - np.maximum(start, bar * BEATS_PER_BAR), 0, None)
        np.add.at(chroma[bar], pitch % 12, overlap)
    norms = np.linalg.norm(chroma, axis=1, keepdims=True)
    chroma = np.divide(chroma, norms, out=np.zeros_like(chroma), where=norms > 0)
    similarity = chroma @ chroma.T
    background = similarity[~np.eye(n_bars, dtype=bool)].mean()
    lags = [lag for lag in SI_LAGS_BARS if lag < n_bars]
    if not lags:
        return None
    return float(max(np.diagonal(similarity, offset=lag).mean() for lag in lags) - background)


def control_metrics(notes: Notes, controls: VideoControls) -> dict[str, float | None]:
    """How the music (in video time) follows a video's controls: density correlation and error, strength error, beat hits.

    Density is compared on the bars that lie wholly inside the video
    (``duration_s``), strength on the beats inside it: music outside the video
    is cut, so bars and beats there cannot be measured.
    """
    tick_s = seconds_per_tick(controls.tempo_bpm)
    ticks = np.rint((notes.start_s - controls.grid_start_s) / tick_s).astype(np.int64)
    ticks = ticks[ticks >= 0]
    unique_ticks, counts = np.unique(ticks, return_counts=True)
    requested_density, bar_start_s = controls.bar_density().astype(float), controls.bar_start_s()
    produced_density = np.bincount(unique_ticks // TICKS_PER_BAR, minlength=len(requested_density))[: len(requested_density)]
    inside = (bar_start_s >= -1e-6) & (bar_start_s + TICKS_PER_BAR * tick_s <= controls.duration_s + 1e-6)  # bars the video covers fully
    requested_density, produced_density = requested_density[inside], produced_density[inside]
    strength_at = dict(zip(unique_ticks.tolist(), np.minimum(counts, STRENGTH_CAP).tolist(), strict=True))
    requested_strength, beat_s = controls.beat_strength_level().astype(float), controls.beat_time_s()
    forced = np.nonzero((requested_strength > 0) & (beat_s >= 0) & (beat_s < controls.duration_s))[0]
    produced_strength = np.array([strength_at.get(int(beat) * TICKS_PER_BEAT, 0) for beat in forced])
    constant = len(requested_density) < 2 or np.ptp(requested_density) == 0 or np.ptp(produced_density) == 0
    strong = controls.visual_beat_time_s()[controls.visual_beat_strength() >= BEAT_HIT_MIN_STRENGTH]
    onsets = np.unique(notes.start_s)
    return {
        "density_spearman": None if constant else float(spearmanr(requested_density, produced_density)[0]),
        "density_mae": float(np.mean(np.abs(requested_density - produced_density))) if len(requested_density) else None,
        "strength_mae": float(np.mean(np.abs(requested_strength[forced] - produced_strength))) if len(forced) else None,
        "beat_hit_rate": float(np.mean([np.abs(onsets - t).min() <= BEAT_HIT_TOLERANCE_S for t in strong])) if len(strong) else None,
    }


def evaluate_file(path: Path, controls: VideoControls | None = None) -> dict[str, Any]:
    """Every metric of one MIDI file (control metrics only with ``controls``)."""
    notes = read_notes(path)
    result: dict[str, Any] = {"file": str(path), **music_metrics(notes)}
    if controls is not None:
        result |= control_metrics(notes, controls)
    return result


def mean_metrics(results: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, float | None]:
    """Mean of each metric over the files where it is defined."""
    out = {}
    for name in names:
        values = [r[name] for r in results if r.get(name) is not None]
        out[name] = float(np.mean(values)) if values else None
    return out


def reference_metrics(folder: Path) -> dict[str, float | None]:
    """Mean music metrics of every MIDI file under ``folder`` (real music to compare with).

    Raises
    ------
    ConfigError
        ``folder`` is not a folder or holds no MIDI files.
    """
    folder = Path(folder)
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".mid", ".midi"}) if folder.is_dir() else []
    if not paths:
        msg = f"reference folder {folder}: no MIDI files in it"
        raise ConfigError(msg)
    return mean_metrics([evaluate_file(path) for path in paths], MUSIC_METRICS)


def metric_gaps(generated: dict[str, float | None], reference: dict[str, float | None]) -> list[list]:
    """Rows of (metric, generated, reference, |gap|) for every music metric; None where either is undefined."""
    rows = []
    for name in MUSIC_METRICS:
        a, b = generated.get(name), reference.get(name)
        rows.append([name, a, b, None if a is None or b is None else abs(a - b)])
    return rows
