"""MIDI files <-> :class:`~cmtlite.tokens.codec.Score`, tick-exact with miditoolkit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import miditoolkit
import numpy as np

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BEAT
from cmtlite.errors import MidiReadError
from cmtlite.timing import TempoMap, seconds_to_ticks
from cmtlite.tokens.chords import chords_from_changes, parse_chord, recognize_chords
from cmtlite.tokens.codec import DURATION_COL, FAMILY_COL, PITCH_COL, START_COL, Score, make_score, onset_strengths
from cmtlite.tokens.vocab import DRUMS, FAMILIES, FAMILY_PROGRAMS, track_family

CHORD_MARKER = "chord "  # marker text before a chord label
SECTION_MARKER = "section "  # marker text before a section label

_OUT_TICKS_PER_BEAT = 480
_DEFAULT_TEMPO_BPM = 120.0  # the MIDI standard's tempo when a file sets none
ACCENT_VELOCITY = 104  # the least velocity of an accented onset (a hit point), before the part's offset
# Velocity added per part: the tune in front, the pads behind (the mix keeps the lead audible; reports/musicality.md).
PART_VELOCITY_OFFSETS = {"drums": 0, "piano": -6, "guitar": -10, "bass": -2, "strings": -22, "lead": 12}
# Drums by instrument: kick and snare carry the groove, hats and the light percussion sit lighter.
DRUM_VELOCITY_OFFSETS = {35: 6, 36: 6, 37: -4, 38: 4, 40: 4, 42: -22, 44: -26, 46: -14, 51: -16, 53: -12, 54: -22, 69: -24, 70: -24,
                         82: -24}
HUMANIZE_VELOCITY = 5  # at most this much seeded jitter per note
# Channel volume (CC 7, GM default 100) per part: the mix keeps the tune in front of the band (benchmarks/lead_level.py).
PART_VOLUMES = {"drums": 100, "piano": 80, "guitar": 80, "bass": 100, "strings": 72, "lead": 127}


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

    A track named as the tune (:func:`~cmtlite.tokens.vocab.track_family`) is the lead; other
    tracks whose program fits no family are dropped and counted
    (``dropped_tracks``, ``dropped_notes``). Start and end ticks are rounded
    to the nearest 16th; a note shorter than a 16th lasts one tick. The
    chords are the file's ``chord <label>`` markers when it has any (a
    cmtlite soundtrack's plan), else recognized from its tonal notes
    (:func:`~cmtlite.tokens.chords.recognize_chords`).

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
        family = track_family(instrument.name, instrument.program, is_drum=instrument.is_drum)
        if family is None:
            dropped_tracks += 1
            dropped_notes += len(instrument.notes)
            continue
        for note in instrument.notes:
            start, end = round(note.start * per_tick), round(note.end * per_tick)
            rows.append((family, note.pitch, start, max(end - start, 1)))
            end_tick = max(end_tick, note.end)
    tempo_bpm = round(_median_tempo_bpm(midi, end_tick), 2)  # MIDI stores whole microseconds per beat
    notes = np.asarray(rows, np.int64).reshape(-1, 4)
    score, stats = make_score(notes, tempo_bpm=tempo_bpm)
    marked = marker_chords(midi, per_tick, len(score.chords))
    if marked is None:
        tonal = score.notes[score.notes[:, FAMILY_COL] != DRUMS]
        marked = recognize_chords(tonal[:, [PITCH_COL, START_COL, DURATION_COL]], len(score.chords))
    return dataclasses.replace(score, chords=marked), {**stats, "dropped_tracks": dropped_tracks, "dropped_notes": dropped_notes}


def chord_markers(midi: miditoolkit.MidiFile) -> list[tuple[int, int]]:
    """(MIDI tick, chord value) of the file's ``chord <label>`` markers in time order; labels this vocabulary does not know are skipped."""
    found = []
    for marker in sorted(midi.markers, key=lambda m: m.time):
        if marker.text.startswith(CHORD_MARKER):
            try:
                found.append((marker.time, parse_chord(marker.text[len(CHORD_MARKER) :].strip())))
            except ValueError:
                continue
    return found


def marker_chords(midi: miditoolkit.MidiFile, per_tick: float, n_ticks: int) -> np.ndarray | None:
    """Chord value per grid tick from ``chord <label>`` markers (each holds until the next), or None without any."""
    changes = chord_markers(midi)
    if not changes:
        return None
    ticks = [max(round(tick * per_tick), 0) for tick, _ in changes]
    return chords_from_changes(ticks, [value for _, value in changes], n_ticks)


def strength_velocity(strength: np.ndarray) -> np.ndarray:
    """MIDI velocity (int 40..112) rising with onset strength (notes on the tick)."""
    return np.clip(40 + 9 * np.asarray(strength), 40, 112).astype(int)


def part_velocities(notes: np.ndarray, onset_velocity: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Velocity (1..127) of every note (N, 4): its onset's velocity (N,) plus its part's ``PART_VELOCITY_OFFSETS``
    (drums: ``DRUM_VELOCITY_OFFSETS`` by instrument) and a seeded humanisation of at most ``HUMANIZE_VELOCITY``.

    The humanisation of a note depends only on ``seed`` and the note itself (a soundtrack uses seed 0), so a note
    kept by a studio regenerate keeps its velocity.
    """
    families, pitches = notes[:, FAMILY_COL], notes[:, PITCH_COL]
    offsets = np.array([PART_VELOCITY_OFFSETS[FAMILIES[f]] for f in families.tolist()], np.int64).reshape(-1)
    drums = families == DRUMS
    offsets[drums] = [DRUM_VELOCITY_OFFSETS.get(int(p), 0) for p in pitches[drums].tolist()]
    keys = (np.int64(seed) * 1_000_003 + notes[:, START_COL] * 131 + families * 17 + pitches) % 2**31
    jitter = (keys * 2_654_435_761 % 2**32) % (2 * HUMANIZE_VELOCITY + 1) - HUMANIZE_VELOCITY
    return np.clip(np.asarray(onset_velocity, np.int64) + offsets + jitter, 1, 127).astype(int)


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


def write_midi(
    score: Score,
    path: Path,
    *,
    timing: TempoMap | None = None,
    end_s: float | None = None,
    onset_shift_s: dict[int, float] | None = None,
    markers: list[tuple[float, str]] | tuple = (),
    accent_ticks: set[int] | None = None,
    programs: dict[int, int] | None = None,
    seed: int = 0,
) -> None:
    """Write a score as a multi-track MIDI file with real tempo events.

    One track per family (more when notes of one pitch overlap), with the
    family's GM program (``programs`` overrides it per family index); drums on
    channel 10; each track opens with its part's channel volume (``PART_VOLUMES``). Velocities follow each onset's strength
    (:func:`strength_velocity`), shaped per part (:func:`part_velocities`,
    humanised by ``seed``).

    Without ``timing`` the file has the score's one tempo and bar 0 at time 0.
    With a :class:`~cmtlite.timing.TempoMap` (video time; bar 0 may start
    before 0) the file's time 0 is the video's first frame and its own beats
    and bar lines are the music's: a pickup before the first bar line becomes
    a leading partial bar (a first beat stretched to end on the music's first
    beat, then the pickup's whole beats, under a time signature of that many
    beats), and a tempo event follows every tempo change. Notes starting
    before 0 or at/after ``end_s`` are dropped, notes are cut at ``end_s``.
    ``onset_shift_s`` moves the notes starting on a grid tick by that many
    seconds (microtiming); ``markers`` are (time s, text) marker events; notes
    starting on ``accent_ticks`` get at least ``ACCENT_VELOCITY``.
    """
    midi = miditoolkit.MidiFile(ticks_per_beat=_OUT_TICKS_PER_BEAT)
    if timing is None:
        midi.tempo_changes = [miditoolkit.TempoChange(score.tempo_bpm, 0)]
        midi.time_signature_changes = [miditoolkit.TimeSignature(4, 4, 0)]
        scale = _OUT_TICKS_PER_BEAT // TICKS_PER_BEAT
        ends = score.notes[:, START_COL] + score.notes[:, DURATION_COL]
        on_ticks, off_ticks = score.notes[:, START_COL] * scale, ends * scale
        end = None if end_s is None else round(seconds_to_ticks(end_s, tempo_bpm=score.tempo_bpm, ticks_per_beat=_OUT_TICKS_PER_BEAT))
        midi.markers = [
            miditoolkit.Marker(text, round(seconds_to_ticks(t, tempo_bpm=score.tempo_bpm, ticks_per_beat=_OUT_TICKS_PER_BEAT)))
            for t, text in markers
            if t >= 0
        ]
    else:
        clock = _MidiClock(timing)
        midi.tempo_changes, midi.time_signature_changes = clock.tempo_changes(), clock.time_signatures()
        shift = np.array([(onset_shift_s or {}).get(int(t), 0.0) for t in score.notes[:, START_COL]])
        on_ticks = clock.ticks(timing.ticks_to_seconds(score.notes[:, START_COL]) + shift)
        off_ticks = clock.ticks(timing.ticks_to_seconds(score.notes[:, START_COL] + score.notes[:, DURATION_COL]) + shift)
        end = None if end_s is None else int(clock.ticks(np.array([end_s]))[0])
        midi.markers = [miditoolkit.Marker(text, int(clock.ticks(np.array([t]))[0])) for t, text in markers if t >= 0]
    ticks, strengths = onset_strengths(score)
    velocity_of_tick = dict(zip(ticks.tolist(), strength_velocity(strengths).tolist(), strict=True))
    for tick in accent_ticks or ():
        if tick in velocity_of_tick:
            velocity_of_tick[tick] = max(velocity_of_tick[tick], ACCENT_VELOCITY)
    onset_velocity = np.array([velocity_of_tick[t] for t in score.notes[:, START_COL].tolist()], np.int64)
    velocities = part_velocities(score.notes, onset_velocity, seed=seed) if len(score.notes) else onset_velocity
    programs = FAMILY_PROGRAMS | (programs or {})
    for family, name in enumerate(FAMILIES):
        rows = np.nonzero(score.notes[:, FAMILY_COL] == family)[0]
        for voice in _voices(np.column_stack([score.notes[rows], rows])) if len(rows) else []:  # last column: the note's row
            track = miditoolkit.Instrument(program=programs[family], is_drum=family == DRUMS, name=name)
            track.control_changes.append(miditoolkit.ControlChange(7, PART_VOLUMES[name], 0))
            for _, pitch, _, _, row in voice.tolist():
                on, off = int(on_ticks[row]), int(off_ticks[row])
                if on >= 0 and (end is None or on < end):
                    off = max(off if end is None else min(off, end), on + 1)
                    track.notes.append(miditoolkit.Note(int(velocities[row]), pitch, on, off))
            if track.notes:
                midi.instruments.append(track)
    midi.dump(str(path))


class _MidiClock:
    """The MIDI file's beats for a tempo map in video time: a leading partial beat from 0, then the music's beats."""

    _EPSILON_S = 1e-3  # a music beat this close after 0 is the file's first beat

    def __init__(self, timing: TempoMap) -> None:
        self.timing = timing
        beats_s = np.append(timing.beat_times_s(), timing.bar_starts_s[-1])
        self.beats_s = np.concatenate([[0.0], beats_s[beats_s > self._EPSILON_S]])  # (n + 1,) edges of the file's beats

    def ticks(self, seconds: np.ndarray) -> np.ndarray:
        """MIDI ticks (int) of video times (s); past the last beat the last beat's length carries on."""
        j = np.clip(np.searchsorted(self.beats_s, seconds, side="right") - 1, 0, len(self.beats_s) - 2)
        fraction = (seconds - self.beats_s[j]) / np.diff(self.beats_s)[j]
        return np.rint((j + fraction) * _OUT_TICKS_PER_BEAT).astype(np.int64)

    def tempo_changes(self) -> list[miditoolkit.TempoChange]:
        """A tempo event at every beat whose length (whole microseconds, as MIDI stores it) differs from the last."""
        changes, last = [], None
        for j, micros in enumerate(np.rint(np.diff(self.beats_s) * 1e6).astype(np.int64).tolist()):
            if micros != last:
                changes.append(miditoolkit.TempoChange(60e6 / micros, j * _OUT_TICKS_PER_BEAT))
                last = micros
        return changes

    def time_signatures(self) -> list[miditoolkit.TimeSignature]:
        """4/4 from the first bar line after 0; before it, a pickup bar of as many beats as it holds."""
        bar_lines = self.timing.bar_starts_s[self.timing.bar_starts_s > self._EPSILON_S]
        first = int(self.ticks(bar_lines[:1])[0]) if len(bar_lines) else 0
        pickup_beats = round(first / _OUT_TICKS_PER_BEAT)
        if pickup_beats in (0, BEATS_PER_BAR):
            return [miditoolkit.TimeSignature(4, 4, 0)]
        return [miditoolkit.TimeSignature(pickup_beats, 4, 0), miditoolkit.TimeSignature(4, 4, first)]
