"""Music-quality metrics of MIDI files and how well music follows a video's controls.

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
* ``bass_agreement``: see :func:`bass_agreement`; ``key``: see :func:`estimate_key`.
* ``chord_tone_ratio``, ``bass_chord_tone_ratio``: see :func:`chord_tone_ratio`
  (files with ``chord <label>`` markers: a cmtlite soundtrack's plan).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from cmtlite.constants import BEATS_PER_BAR, HIT_MIN_STRENGTH, TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.controls import VideoControls
from cmtlite.errors import ConfigError
from cmtlite.evaluate.notes import Notes
from cmtlite.tokens import chords
from cmtlite.tokens.vocab import STRENGTH_CAP
from cmtlite.video.grid import after_long_shot

MUSIC_METRICS = ("PE", "PCE", "SC", "EBR", "IOI", "GPS", "SI", "bass_agreement", "chord_tone_ratio", "bass_chord_tone_ratio")
CONTROL_METRICS = (
    "density_spearman", "density_mae", "strength_mae", "beat_hit_rate", "hit_rate_35ms", "cut_on_beat_rate", "cut_on_downbeat_rate",
)
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
PCE_WINDOW_BARS = 4
SI_LAGS_BARS = range(2, 9)
BEAT_HIT_TOLERANCE_S = 0.07
TIGHT_HIT_TOLERANCE_S = 0.035
CUT_ON_BEAT_TOLERANCE_S = 0.04
AUDIO_ONSET_RATE_HZ = 22050


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
        out["bass_agreement"] = bass_agreement(notes)
        is_tonal_onset = ~notes.is_drum
        onsets, pitches, bass = notes.start_beats[is_tonal_onset], notes.pitch[is_tonal_onset], notes.is_bass[is_tonal_onset]
        out["chord_tone_ratio"] = chord_tone_ratio(onsets, pitches, notes.chord_beats, notes.chord_values)
        out["bass_chord_tone_ratio"] = chord_tone_ratio(onsets[bass], pitches[bass], notes.chord_beats, notes.chord_values)
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


def bass_agreement(notes: Notes) -> float | None:
    """Share of bass onsets whose pitch class sounds in another tonal part at that moment.

    Counted over the bass onsets where another tonal (non-drum, non-bass)
    note sounds (start <= onset < end); None without any.
    """
    bass = notes.is_bass & ~notes.is_drum
    others = ~notes.is_drum & ~notes.is_bass
    if not bass.any() or not others.any():
        return None
    other_start, other_end, other_pc = notes.start_beats[others], notes.end_beats[others], notes.pitch[others] % 12
    agree = []
    for onset, pitch in zip(notes.start_beats[bass], notes.pitch[bass], strict=True):
        sounding = (other_start <= onset + 1e-9) & (other_end > onset + 1e-9)
        if sounding.any():
            agree.append(pitch % 12 in set(other_pc[sounding].tolist()))
    return float(np.mean(agree)) if agree else None


def chord_tone_ratio(onsets: np.ndarray, pitches: np.ndarray, chord_starts: np.ndarray, chord_values: np.ndarray) -> float | None:
    """Share of note onsets whose pitch class belongs to the chord sounding then.

    ``onsets`` and ``pitches`` (N,) are tonal notes; chord ``k`` (a chord
    value) sounds from ``chord_starts[k]`` (same unit as ``onsets``, increasing)
    until the next. Onsets before the first chord or under "no chord" are not
    counted; None when none is.
    """
    if len(chord_starts) == 0 or len(onsets) == 0:
        return None
    index = np.searchsorted(chord_starts, np.asarray(onsets) + 1e-9, side="right") - 1
    under = (index >= 0) & (np.asarray(chord_values)[np.maximum(index, 0)] != chords.NO_CHORD)
    if not under.any():
        return None
    tones = chords.chord_tone_table()[np.asarray(chord_values)[index[under]], np.asarray(pitches)[under] % 12]
    return float(tones.mean())


def estimate_key(notes: Notes) -> tuple[str | None, float | None]:
    """(key as "A:min"-style tonic:mode, its correlation) by Krumhansl-Schmuckler.

    The duration-weighted pitch-class histogram of the non-drum notes is
    correlated with the 24 rotated Krumhansl-Kessler profiles; the best wins.
    (None, None) without tonal notes.
    """
    tonal = ~notes.is_drum
    if not tonal.any():
        return None, None
    weights = np.maximum(notes.end_beats[tonal] - notes.start_beats[tonal], 1e-3)
    found = chords.estimate_key(np.bincount(notes.pitch[tonal] % 12, weights=weights, minlength=12))
    return (None, None) if found is None else (found[0].label, round(found[1], 4))


def control_metrics(notes: Notes, controls: VideoControls) -> dict[str, float | None]:
    """How the music (in video time) follows a video's controls.

    Density is compared on the bars that lie wholly inside the video
    (``duration_s``), strength on the beats inside it: music outside the video
    is cut, so bars and beats there cannot be measured. Note onsets are put on
    the grid through the controls' tempo map. ``beat_hit_rate`` and
    ``hit_rate_35ms``: strong visual beats (strength >= 0.5) with a note onset
    within 70 / 35 ms. ``cut_on_beat_rate``: scene cuts within 40 ms of a beat
    of the MIDI file's own grid; ``cut_on_downbeat_rate``: cuts after a shot of
    at least two bars within 40 ms of one of its downbeats.
    """
    if notes.beats_s is None or notes.downbeats_s is None:
        msg = "control metrics need the file's grid: read the notes with grid=True"
        raise ConfigError(msg)
    timing = controls.timing()
    ticks = np.rint(timing.seconds_to_ticks(notes.start_s)).astype(np.int64)
    ticks = ticks[(ticks >= 0) & (notes.start_s >= 0)]
    unique_ticks, counts = np.unique(ticks, return_counts=True)
    requested_density = controls.bar_density().astype(float)
    produced_density = np.bincount(unique_ticks // TICKS_PER_BAR, minlength=len(requested_density))[: len(requested_density)]
    edges = timing.bar_starts_s
    inside = (edges[:-1] >= -1e-6) & (edges[1:] <= controls.duration_s + 1e-6)  # bars the video covers fully
    requested_density, produced_density = requested_density[inside], produced_density[inside]
    strength_at = dict(zip(unique_ticks.tolist(), np.minimum(counts, STRENGTH_CAP).tolist(), strict=True))
    requested_strength, beat_s = controls.beat_strength_level().astype(float), controls.beat_time_s()
    forced = np.nonzero((requested_strength > 0) & (beat_s >= 0) & (beat_s < controls.duration_s))[0]
    produced_strength = np.array([strength_at.get(int(beat) * TICKS_PER_BEAT, 0) for beat in forced])
    constant = len(requested_density) < 2 or np.ptp(requested_density) == 0 or np.ptp(produced_density) == 0
    strong = controls.visual_beat_time_s()[controls.visual_beat_strength() >= HIT_MIN_STRENGTH]
    cuts = np.asarray(controls.scene_cuts_s, float)
    long_shot = after_long_shot(cuts, tempo_bpm=controls.tempo_bpm)
    return {
        "density_spearman": None if constant else float(spearmanr(requested_density, produced_density)[0]),
        "density_mae": float(np.mean(np.abs(requested_density - produced_density))) if len(requested_density) else None,
        "strength_mae": float(np.mean(np.abs(requested_strength[forced] - produced_strength))) if len(forced) else None,
        "beat_hit_rate": hit_rate(strong, np.unique(notes.start_s), BEAT_HIT_TOLERANCE_S),
        "hit_rate_35ms": hit_rate(strong, np.unique(notes.start_s), TIGHT_HIT_TOLERANCE_S),
        "cut_on_beat_rate": hit_rate(cuts, notes.beats_s, CUT_ON_BEAT_TOLERANCE_S),
        "cut_on_downbeat_rate": hit_rate(cuts[long_shot], notes.downbeats_s, CUT_ON_BEAT_TOLERANCE_S),
    }


def hit_rate(targets_s: np.ndarray, events_s: np.ndarray, tolerance_s: float) -> float | None:
    """Share of ``targets_s`` with an event within ``tolerance_s`` seconds; None without targets."""
    if len(targets_s) == 0:
        return None
    if len(events_s) == 0:
        return 0.0
    return float(np.mean([np.abs(events_s - t).min() <= tolerance_s for t in targets_s]))


def audio_onsets_s(path: Path) -> np.ndarray:
    """Onset times (s) heard in an audio file: librosa's spectral-flux onset detector on its mono mix at 22.05 kHz.

    Raises
    ------
    ConfigError
        librosa is not installed, or the file cannot be read as audio.
    """
    try:
        import librosa
    except ImportError as err:
        msg = "the audio hit rate needs librosa: pip install 'cmtlite[eval]'"
        raise ConfigError(msg) from err
    try:
        samples, rate = librosa.load(str(path), sr=AUDIO_ONSET_RATE_HZ, mono=True)
    except Exception as err:  # noqa: BLE001 - librosa raises many kinds for a bad file
        msg = f"{path}: not a readable audio file ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err
    return np.asarray(librosa.onset.onset_detect(y=samples, sr=rate, units="time"), np.float64)


def audio_hit_rate(audio: Path, controls: VideoControls) -> float | None:
    """Share of strong visual beats (strength >= 0.5) with an onset heard in ``audio`` within 70 ms."""
    strong = controls.visual_beat_time_s()[controls.visual_beat_strength() >= HIT_MIN_STRENGTH]
    return hit_rate(strong, audio_onsets_s(audio), BEAT_HIT_TOLERANCE_S)
