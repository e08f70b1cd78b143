"""The tune: a one-note-at-a-time lead line written from a motif, phrase by phrase, over the plan's chords.

A composer's rules over the model's material (:mod:`cmtlite.music.composer` calls
:func:`lead_section` for a section's first time; returns replay it):

* **Motif** (:func:`motif_of`): one bar of rhythm and contour. It is the
  model's own lead in the section's first bar that has at least
  ``MIN_MOTIF_NOTES`` onsets (its top note per onset, onsets at least an 8th
  apart, steps clipped to ``MAX_MOTIF_STEP`` scale degrees); without one, a
  seeded pick from ``MOTIF_RHYTHMS`` with a stepwise contour.
* **Phrases** of 4 bars: the motif is stated, repeated and sequenced (bars
  1-3 of a phrase replay its contour from the chord tone of the new chord
  nearest the line's last note: a sequence that follows the harmony), and
  the phrase's last bar answers it: the motif's first beat, then a chord tone
  (the root in the section's last phrase) held to two 16ths before the bar's end, a breath.
* **Pitches**: the contour walks the key's scale (mostly steps); notes on
  beats 1 and 3, and notes of a beat or longer, snap to the nearest chord tone; the whole line stays within
  ``LEAD_RANGE`` semitones from its lowest note (one singable register above
  the accompaniment, :func:`lead_register`), a note that would leave it turns back.

Pure functions over note arrays (family, pitch, start tick, duration), bar-relative (``_rel``) where named.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmtlite.constants import TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.music.parts import nearest_pitch
from cmtlite.music.plan import PHRASE_BARS
from cmtlite.tokens.chords import chord_pitch_classes
from cmtlite.tokens.codec import PITCH_COL, START_COL
from cmtlite.tokens.vocab import LEAD

MIN_MOTIF_NOTES = 3  # the model's bar must have this many onsets to give the motif
MAX_MOTIF_NOTES = 6
MAX_MOTIF_STEP = 1  # scale degrees between neighbouring motif notes: a line of steps (and repeated notes)
LEAD_RANGE = 17  # semitones from the line's lowest to its highest note
LEAD_LOW = (60, 67)  # the line's lowest note lies in this span (C4..G4): above the comping, singable
# Singable one-bar rhythms (onset ticks); the motif falls back to one of them (seeded).
MOTIF_RHYTHMS = ((0, 4, 8, 12), (0, 2, 4, 8), (0, 6, 8, 12), (0, 4, 6, 8), (0, 3, 4, 10), (0, 8, 10, 12))
BREATH_TICKS = 2  # silence at the end of a phrase


@dataclass(frozen=True)
class Motif:
    """One bar of tune: onset ticks (K,) in the bar, durations (K,) in ticks, and scale steps (K,) from its first note."""

    ticks: tuple[int, ...]
    durations: tuple[int, ...]
    steps: tuple[int, ...]


def lead_register(tonic: int) -> int:
    """The line's lowest allowed pitch: the key's tonic (or the scale's note) in ``LEAD_LOW``, the range above it."""
    return next(p for p in range(LEAD_LOW[0], LEAD_LOW[0] + 12) if p % 12 == tonic % 12)


def scale_pitches(scale: np.ndarray) -> np.ndarray:
    """Every MIDI pitch in the scale (12 bools; empty: chromatic), ascending."""
    classes = np.flatnonzero(scale) if len(scale) else np.arange(12)
    return np.array([p for p in range(128) if p % 12 in set(classes.tolist())])


def motif_of(lead_rel: np.ndarray, ladder: np.ndarray, rng: np.random.Generator) -> Motif:
    """The motif of a section (module doc) from the model's lead bar ``lead_rel`` (may be empty); ``ladder``: the key's
    pitches (:func:`scale_pitches`)."""
    onsets = sorted({int(t) for t in lead_rel[:, START_COL].tolist()})
    kept = [t for i, t in enumerate(onsets) if i == 0 or t - onsets[i - 1] >= 2][:MAX_MOTIF_NOTES]
    if len(kept) >= MIN_MOTIF_NOTES:
        pitches = [int(lead_rel[lead_rel[:, START_COL] == t, PITCH_COL].max()) for t in kept]
        degrees = np.searchsorted(ladder, pitches)
        steps = np.clip(np.diff(degrees, prepend=degrees[0]), -MAX_MOTIF_STEP, MAX_MOTIF_STEP)
        ticks = tuple(kept)
    else:
        ticks = MOTIF_RHYTHMS[int(rng.integers(len(MOTIF_RHYTHMS)))]
        steps = np.concatenate([[0], rng.choice([-1, -1, 0, 1, 1], size=len(ticks) - 1)])
    ends = list(ticks[1:]) + [TICKS_PER_BAR]
    durations = tuple(int(max(e - t, 1)) for t, e in zip(ticks, ends, strict=True))
    return Motif(ticks=tuple(int(t) for t in ticks), durations=durations, steps=tuple(int(s) for s in np.cumsum(steps)))


def _anchor(chords_rel: np.ndarray, previous: int, low: int) -> int:
    """The chord tone of the bar's first chord nearest the line's last pitch, inside the register."""
    tones = chord_pitch_classes(int(chords_rel[0])) or (previous % 12,)
    return min((nearest_pitch(pc, previous, low=low, high=low + LEAD_RANGE - 4) for pc in tones), key=lambda p: abs(p - previous))


def _realize(motif: Motif, chords_rel: np.ndarray, ladder: np.ndarray, *, previous: int, low: int) -> list[list[int]]:
    """The motif's notes as [pitch, tick, duration] from the anchor on the key's ``ladder``, strong beats on chord tones, in range."""
    start = int(np.searchsorted(ladder, _anchor(chords_rel, previous, low)))
    notes = []
    for tick, duration, step in zip(motif.ticks, motif.durations, motif.steps, strict=True):
        pitch = int(ladder[int(np.clip(start + step, 0, len(ladder) - 1))])
        if pitch < low or pitch > low + LEAD_RANGE:  # turn back into the register
            pitch = int(ladder[int(np.clip(start - step, 0, len(ladder) - 1))])
        tones = chord_pitch_classes(int(chords_rel[tick]))
        if (tick % (2 * TICKS_PER_BEAT) == 0 or duration >= TICKS_PER_BEAT) and tones and pitch % 12 not in tones:
            closest = min(tones, key=lambda pc: min((pc - pitch) % 12, (pitch - pc) % 12))
            pitch = nearest_pitch(closest, pitch, low=low, high=low + LEAD_RANGE)
        notes.append([int(np.clip(pitch, low, low + LEAD_RANGE)), tick, duration])
    return notes


def _cadence(motif: Motif, chords_rel: np.ndarray, ladder: np.ndarray, *, previous: int, low: int, final: bool) -> list[list[int]]:
    """A phrase's last bar: the motif's notes of its first beat, then a held chord tone (the root when ``final``) and a breath."""
    head = [n for n in _realize(motif, chords_rel, ladder, previous=previous, low=low) if n[1] < TICKS_PER_BEAT]
    last = head[-1][0] if head else previous
    hold_tick = TICKS_PER_BEAT if head else 0
    tones = chord_pitch_classes(int(chords_rel[hold_tick])) or (last % 12,)
    targets = tones[:1] if final else tones
    pitch = min((nearest_pitch(pc, last, low=low, high=low + LEAD_RANGE) for pc in targets), key=lambda p: abs(p - last))
    for note in head:
        note[2] = min(note[2], hold_tick - note[1])
    return [n for n in head if n[2] > 0] + [[pitch, hold_tick, TICKS_PER_BAR - BREATH_TICKS - hold_tick]]


def lead_section(
    model_lead: list[np.ndarray], chords: list[np.ndarray], scale: np.ndarray, *, tonic: int, previous: int | None, seed: int
) -> list[np.ndarray]:
    """The tune of a section's first time: one bar of lead notes (rel, (K, 4)) per bar (module doc).

    ``model_lead`` are the model's lead bars (rel) and ``chords`` each bar's
    chord values (16,); ``previous`` is the line's last pitch before the
    section (None: it starts near the register's middle).
    """
    rng = np.random.default_rng([seed, 22])
    low = lead_register(tonic)
    source = next((bar for bar in model_lead if len({int(t) for t in bar[:, START_COL].tolist()}) >= MIN_MOTIF_NOTES), np.zeros((0, 4)))
    ladder = scale_pitches(scale)
    motif = motif_of(np.asarray(source, np.int64).reshape(-1, 4), ladder, rng)
    last = previous if previous is not None else low + LEAD_RANGE // 2
    bars = []
    n_bars = len(chords)
    for offset, bar_chords in enumerate(chords):
        phrase_end = offset % PHRASE_BARS == PHRASE_BARS - 1 or offset == n_bars - 1
        if phrase_end:
            final = offset + PHRASE_BARS > n_bars - 1
            rows = _cadence(motif, bar_chords, ladder, previous=last, low=low, final=final)
        else:
            rows = _realize(motif, bar_chords, ladder, previous=last, low=low)
        last = rows[-1][0] if rows else last
        bars.append(np.array([[LEAD, p, t, d] for p, t, d in rows], np.int64).reshape(-1, 4))
    return bars
