"""MIDI files <-> :class:`~cmtlite.tokens.codec.Score`, tick-exact with miditoolkit."""

from __future__ import annotations

from pathlib import Path

import miditoolkit
import numpy as np

from cmtlite.constants import TICKS_PER_BEAT
from cmtlite.errors import MidiReadError
from cmtlite.timing import seconds_to_ticks
from cmtlite.tokens.codec import DURATION_COL, FAMILY_COL, PITCH_COL, START_COL, Score, make_score, onset_strengths
from cmtlite.tokens.vocab import DRUMS, FAMILIES, FAMILY_PROGRAMS, program_to_family

_OUT_TICKS_PER_BEAT = 480
_DEFAULT_TEMPO_BPM = 120.0  # the MIDI standard's tempo when a file sets none


def _median_tempo_bpm(midi: miditoolkit.MidiFile, end_tick: int) -> float:
    """Duration-weighted median tempo over [0, end_tick), in BPM."""
    changes = sorted(midi.tempo_changes, key=lambda c: c.time)
    if not changes:
        return _DEFAULT_TEMPO_BPM
    starts = np.array([max(c.time, 0) for c in changes] + [max(end_tick, changes[-1].time + 1)])
    weights = np.clip(np.diff(starts), 0, None).astype(float)
    tempos = np.array([c.tempo for c in changes], float)
    if weights.sum() == 0:
        return float(tempos[0])
    order = np.argsort(tempos)
    cumulative = np.cumsum(weights[order])
    return float(tempos[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def read_midi(path: Path) -> tuple[Score, dict[str, int]]:
    """Quantize a MIDI file's notes to the 16th grid of its own resolution.

    Tracks whose program fits no family are dropped and counted
    (``dropped_tracks``, ``dropped_notes``). Start and end ticks are rounded
    to the nearest 16th; a note shorter than a 16th lasts one tick.

    Raises
    ------
    MidiReadError
        The file is missing or not a readable MIDI file.
    """
    try:
        midi = miditoolkit.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        msg = f"{path}: not a readable MIDI file ({err})"
        raise MidiReadError(msg) from err
    per_tick = TICKS_PER_BEAT / midi.ticks_per_beat
    rows, dropped_tracks, dropped_notes, end_tick = [], 0, 0, 0
    for instrument in midi.instruments:
        family = program_to_family(instrument.program, is_drum=instrument.is_drum)
        if family is None:
            dropped_tracks += 1
            dropped_notes += len(instrument.notes)
            continue
        for note in instrument.notes:
            start, end = round(note.start * per_tick), round(note.end * per_tick)
            rows.append((family, note.pitch, start, max(end - start, 1)))
            end_tick = max(end_tick, note.end)
    tempo_bpm = round(_median_tempo_bpm(midi, end_tick), 2)  # MIDI stores whole microseconds per beat
    score, stats = make_score(np.asarray(rows, np.int64).reshape(-1, 4), tempo_bpm=tempo_bpm)
    return score, {**stats, "dropped_tracks": dropped_tracks, "dropped_notes": dropped_notes}


def strength_velocity(strength: np.ndarray) -> np.ndarray:
    """MIDI velocity (int 40..112) rising with onset strength (notes on the tick)."""
    return np.clip(40 + 9 * np.asarray(strength), 40, 112).astype(int)


def _voices(notes: np.ndarray) -> list[np.ndarray]:
    """Split one family's notes into voices with no overlapping notes of the same pitch."""
    voices: list[list[np.ndarray]] = []
    ends: list[dict[int, int]] = []  # per voice: pitch -> end tick of its last note
    for note in notes:
        pitch, start = int(note[PITCH_COL]), int(note[START_COL])
        free = next((i for i, busy in enumerate(ends) if busy.get(pitch, -1) <= start), len(voices))
        if free == len(voices):
            voices.append([])
            ends.append({})
        voices[free].append(note)
        ends[free][pitch] = start + int(note[DURATION_COL])
    return [np.stack(v) for v in voices]


def write_midi(score: Score, path: Path, *, shift_s: float = 0.0, end_s: float | None = None) -> None:
    """Write a score as a multi-track MIDI file with a real tempo event.

    One track per family (more when notes of one pitch overlap), with the
    family's GM program; drums on channel 10. Velocities follow each onset's
    strength (:func:`strength_velocity`). ``shift_s`` moves every note by that
    many seconds (a grid that starts before the video: negative); notes that
    would start before 0 or at/after ``end_s`` are dropped, and notes are cut
    at ``end_s``.
    """
    midi = miditoolkit.MidiFile(ticks_per_beat=_OUT_TICKS_PER_BEAT)
    midi.tempo_changes = [miditoolkit.TempoChange(score.tempo_bpm, 0)]
    midi.time_signature_changes = [miditoolkit.TimeSignature(4, 4, 0)]
    scale = _OUT_TICKS_PER_BEAT // TICKS_PER_BEAT
    shift = round(seconds_to_ticks(shift_s, tempo_bpm=score.tempo_bpm, ticks_per_beat=_OUT_TICKS_PER_BEAT))
    end = round(seconds_to_ticks(end_s, tempo_bpm=score.tempo_bpm, ticks_per_beat=_OUT_TICKS_PER_BEAT)) if end_s is not None else None
    ticks, strengths = onset_strengths(score)
    velocity_of_tick = dict(zip(ticks.tolist(), strength_velocity(strengths).tolist(), strict=True))
    for family, name in enumerate(FAMILIES):
        notes = score.notes[score.notes[:, FAMILY_COL] == family]
        for voice in _voices(notes) if len(notes) else []:
            track = miditoolkit.Instrument(program=FAMILY_PROGRAMS[family], is_drum=family == DRUMS, name=name)
            for _, pitch, start, duration in voice.tolist():
                on, off = start * scale + shift, (start + duration) * scale + shift
                if on >= 0 and (end is None or on < end):
                    off = off if end is None else min(off, end)
                    track.notes.append(miditoolkit.Note(velocity_of_tick[start], pitch, on, off))
            if track.notes:
                midi.instruments.append(track)
    midi.dump(str(path))
