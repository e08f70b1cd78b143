"""A MIDI file read for evaluation: its notes with parts and velocities, its chords and sections, on its own beat grid.

Positions are in beats (quarter notes) from the start of the first bar: the
MIDI's ticks / ticks_per_beat, a leading pickup bar (m/4 then 4/4) counted as
a bar's end; seconds come from its tempo map. Metrics that count 16ths use
``onset16 = round(4 * start_beats)`` and ``end16 = max(round(4 * end_beats),
onset16 + 1)`` (a note sounds on the 16ths ``onset16 <= t < end16``); bars
are 16 sixteenths (4/4), bar ``b`` holding the 16ths ``16 b .. 16 b + 15``.

* **Parts**: the notes of every track with one (name, program, drum flag)
  form a part: a cmtlite soundtrack writes a family's overlapping voices as
  several tracks of one name, and they are one part.
* **Families**: the lead part (:func:`lead_part`) is ``lead``; every other
  part has the family of its GM program (:func:`~cmtlite.tokens.vocab.program_to_family`:
  drums, piano, guitar, bass, strings), or ``other``.
* **Chords** (:func:`harmony`): the file's ``chord <label>`` markers (a
  cmtlite soundtrack's plan); a POP909 song's own labels; else the template
  recognizer (:func:`~cmtlite.tokens.chords.recognize_chords`) on the
  non-drum notes.
* **Sections** (:func:`sections`): the file's ``section <label>`` markers,
  each from its bar to the next marker's (the last to the end of the piece).
* **POP909** (:func:`read_pop909`): a ``.mid`` with POP909's ``chord_midi.txt``
  beside it is read on the beat grid its chord labels fix
  (:func:`~cmtlite.tokens.arrange.beat_grid`), as the training corpus reads it;
  its ``MELODY`` track is then the lead, ``BRIDGE`` and ``PIANO`` are piano.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import miditoolkit
import numpy as np
import pretty_midi

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.errors import MidiReadError
from cmtlite.tokens import chords
from cmtlite.tokens.arrange import CHORD_FILE, beat_labels, read_song, seconds_to_beats
from cmtlite.tokens.midi import SECTION_MARKER, chord_markers
from cmtlite.tokens.vocab import FAMILIES, program_to_family

BASS_PROGRAMS = (32, 39)  # GM bass programs (0-based)
# Words in a track name that make it the lead, most telling first (Lakh names: "Melody", "Lead Voca", "Vocals", "Lead").
LEAD_NAME_WORDS = ("melod", "voca", "voice", "sing", "lead")
OTHER_FAMILY = "other"
LEAD_FAMILY = "lead"


@dataclass(frozen=True)
class Notes:
    """A MIDI file's notes: arrays of shape (N,) sorted by start.

    Attributes: ``pitch``; ``start_beats``, ``end_beats`` (quarter notes
    from the start of the first bar, a pickup bar counted as a bar's end);
    ``start_s``, ``end_s`` (seconds, from the tempo map); ``is_drum``;
    ``is_bass`` (a GM bass program, 32-39, not drums); ``velocity`` (1..127);
    ``part`` (index into ``part_names`` / ``part_programs`` /
    ``part_is_drum``: see the module doc);
    the file's own ``beats_s`` and ``downbeats_s`` (None unless read with
    ``grid``; from its tempo map and
    time signatures, as a DAW reads them); its ``chord <label>`` markers
    (or POP909 labels)
    as ``chord_beats`` (start, in beats like the notes) and ``chord_values``
    (:mod:`cmtlite.tokens.chords`), empty without any; and its ``section
    <label>`` markers as ``section_beats`` and ``section_labels``.
    """

    pitch: np.ndarray
    start_beats: np.ndarray
    end_beats: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    is_drum: np.ndarray
    is_bass: np.ndarray
    velocity: np.ndarray
    part: np.ndarray
    part_names: tuple[str, ...]
    part_programs: tuple[int, ...]
    part_is_drum: tuple[bool, ...]
    beats_s: np.ndarray | None = None
    downbeats_s: np.ndarray | None = None
    chord_beats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    chord_values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    section_beats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    section_labels: tuple[str, ...] = ()

    @property
    def onset_ticks(self) -> np.ndarray:
        """Onsets quantized to 16ths (grid ticks)."""
        return np.rint(self.start_beats * TICKS_PER_BEAT).astype(np.int64)

    @property
    def end_ticks(self) -> np.ndarray:
        """Ends quantized to 16ths, at least one 16th after the onset."""
        return np.maximum(np.rint(self.end_beats * TICKS_PER_BEAT).astype(np.int64), self.onset_ticks + 1)

    @property
    def n_bars(self) -> int:
        """Bars up to the end of the last note (the last one partly filled)."""
        return -(-int(self.end_ticks.max()) // TICKS_PER_BAR) if len(self.pitch) else 0

    def part_families(self) -> tuple[str, ...]:
        """Family of every part (module doc): ``lead``, a cmtlite family name, or ``other``."""
        lead = lead_part(self)
        out = []
        for index, (program, drum) in enumerate(zip(self.part_programs, self.part_is_drum, strict=True)):
            family = program_to_family(program, is_drum=drum)
            out.append(LEAD_FAMILY if index == lead else OTHER_FAMILY if family is None else FAMILIES[family])
        return tuple(out)

    def of_family(self, family: str) -> np.ndarray:
        """Bool (N,): the notes of the parts of ``family``."""
        parts = [i for i, name in enumerate(self.part_families()) if name == family]
        return np.isin(self.part, parts)


def lead_part(notes: Notes) -> int | None:
    """The part that carries the tune, or None.

    The non-drum part whose name contains the first of :data:`LEAD_NAME_WORDS`
    (case-insensitive) that any part's name contains: a cmtlite ``lead``
    track, POP909's ``MELODY``, a Lakh ``Melody``/``Vocals``/``Lead`` track.
    Among several such parts, the one with the most notes.
    """
    names = [name.lower() for name in notes.part_names]
    counts = np.bincount(notes.part, minlength=len(names))
    for word in LEAD_NAME_WORDS:
        matches = [i for i, name in enumerate(names) if word in name and not notes.part_is_drum[i] and counts[i]]
        if matches:
            return max(matches, key=lambda i: counts[i])
    return None


def read_notes(path: Path, *, grid: bool = True) -> Notes:
    """The notes of a MIDI file; with ``grid`` also its own beats and downbeats (a second parse, by pretty_midi).

    Raises
    ------
    MidiReadError
        Unreadable file, or a file without notes.
    """
    try:
        midi = miditoolkit.MidiFile(str(path))
        tick_to_s = midi.get_tick_to_time_mapping()
        file_grid = pretty_midi.PrettyMIDI(str(path)) if grid else None
        beats_s, downbeats_s = (file_grid.get_beats(), file_grid.get_downbeats()) if file_grid else (None, None)
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        msg = f"{path}: not a readable MIDI file ({err})"
        raise MidiReadError(msg) from err
    keys = list(dict.fromkeys(_part_key(t) for t in midi.instruments if t.notes))
    rows = [(n.pitch, n.start, max(n.end, n.start), t.is_drum, _is_bass(t), n.velocity, keys.index(_part_key(t)))
            for t in midi.instruments for n in t.notes]
    if not rows:
        msg = f"{path}: the MIDI file has no notes"
        raise MidiReadError(msg)
    pitch, start, end, drum, bass, velocity, part = (np.array(c) for c in zip(*sorted(rows, key=lambda r: (r[1], r[0])), strict=True))
    seconds = np.asarray(tick_to_s)
    pickup = _pickup_missing_beats(midi)
    marked = chord_markers(midi)
    sections = [(m.time, m.text[len(SECTION_MARKER) :].strip()) for m in sorted(midi.markers, key=lambda m: m.time)
                if m.text.startswith(SECTION_MARKER)]
    return Notes(
        pitch=pitch,
        start_beats=start / midi.ticks_per_beat + pickup,
        end_beats=end / midi.ticks_per_beat + pickup,
        start_s=seconds[np.minimum(start, len(seconds) - 1)],
        end_s=seconds[np.minimum(end, len(seconds) - 1)],
        is_drum=drum.astype(bool),
        is_bass=bass.astype(bool),
        velocity=velocity.astype(np.int64),
        part=part.astype(np.int64),
        part_names=_part_names(keys),
        part_programs=tuple(program for _, program, _ in keys),
        part_is_drum=tuple(drum for _, _, drum in keys),
        beats_s=None if beats_s is None else np.asarray(beats_s),
        downbeats_s=None if downbeats_s is None else np.asarray(downbeats_s),
        chord_beats=np.array([t for t, _ in marked], float) / midi.ticks_per_beat + pickup,
        chord_values=np.array([v for _, v in marked], np.int64),
        section_beats=np.array([t for t, _ in sections], float) / midi.ticks_per_beat + pickup,
        section_labels=tuple(label for _, label in sections),
    )


def _part_key(track: miditoolkit.Instrument) -> tuple[str, int, bool]:
    return track.name.strip(), int(track.program), bool(track.is_drum)


def _part_names(keys: list[tuple[str, int, bool]]) -> tuple[str, ...]:
    """A name per part: the track name (``drums`` / ``program N`` when empty), with the program when two parts share it."""
    bare = [name or ("drums" if drum else f"program {program}") for name, program, drum in keys]
    return tuple(name if bare.count(name) == 1 else f"{name} ({program})" for name, (_, program, _) in zip(bare, keys, strict=True))


def _is_bass(track: miditoolkit.Instrument) -> bool:
    return not track.is_drum and BASS_PROGRAMS[0] <= track.program <= BASS_PROGRAMS[1]


def _pickup_missing_beats(midi: miditoolkit.MidiFile) -> int:
    """Beats missing from a leading pickup bar (an m/4 bar at tick 0 followed by 4/4), 0 without one."""
    signatures = sorted(midi.time_signature_changes, key=lambda ts: ts.time)
    if len(signatures) >= 2 and signatures[0].time == 0 and signatures[0].denominator == 4 and signatures[1].numerator == 4:
        first = signatures[0].numerator
        if 0 < first < BEATS_PER_BAR and signatures[1].time == first * midi.ticks_per_beat:
            return BEATS_PER_BAR - first
    return 0


def read_pop909(path: Path) -> Notes:
    """A POP909 song (``path`` with its ``chord_midi.txt``) on the beat grid its chord labels fix; chords are its labels.

    Notes starting before the first bar are dropped; the labels are reduced to
    the vocabulary's qualities (:func:`~cmtlite.tokens.chords.reduce_label`),
    one per beat, and a chord starts where the reduced label changes.

    Raises
    ------
    MidiReadError
        Unreadable MIDI or chord file, no chords, or no notes.
    """
    midi, spans, beats_s, pickup = read_song(path)
    tick_to_s = np.asarray(midi.get_tick_to_time_mapping())
    tracks = [t for t in midi.instruments if t.notes]
    keys = [_part_key(t) for t in tracks]
    columns = []
    for index, track in enumerate(tracks):
        on = np.array([[n.start, n.end, n.pitch, n.velocity] for n in track.notes])
        start_s, end_s = tick_to_s[np.minimum(on[:, :2], len(tick_to_s) - 1)].T
        start, end = (seconds_to_beats(s, beats_s) + pickup for s in (start_s, end_s))
        columns.append(np.column_stack([on[:, 2], start, np.maximum(end, start), start_s, end_s, on[:, 3], np.full(len(on), index)]))
    table = np.concatenate(columns) if columns else np.zeros((0, 7))
    table = table[table[:, 1] >= -1e-6]
    if not len(table):
        msg = f"{path}: the MIDI file has no notes in its bars"
        raise MidiReadError(msg)
    table = table[np.lexsort((table[:, 0], table[:, 1]))]
    values = np.array([chords.reduce_label(label) for label in beat_labels(spans, beats_s, pickup)], np.int64)
    changes = np.flatnonzero(np.diff(values, prepend=-1))
    return Notes(
        pitch=table[:, 0].astype(np.int64), start_beats=table[:, 1], end_beats=table[:, 2], start_s=table[:, 3], end_s=table[:, 4],
        is_drum=np.zeros(len(table), bool), is_bass=np.zeros(len(table), bool), velocity=table[:, 5].astype(np.int64),
        part=table[:, 6].astype(np.int64), part_names=_part_names(keys), part_programs=tuple(p for _, p, _ in keys),
        part_is_drum=tuple(d for _, _, d in keys), chord_beats=changes.astype(float), chord_values=values[changes],
    )


def is_pop909(path: Path) -> bool:
    """Whether ``path`` is read as a POP909 song: its ``chord_midi.txt`` lies beside it."""
    return Path(path).with_name(CHORD_FILE).is_file()


def read_piece(path: Path) -> Notes:
    """The notes of any MIDI file for the form, groove, tune and role metrics: a POP909 song on its labels' grid, else as read."""
    return read_pop909(path) if is_pop909(path) else read_notes(path, grid=False)


def harmony(notes: Notes) -> tuple[np.ndarray, np.ndarray]:
    """(chord start in beats (K,), chord value (K,)): the file's markers or labels, else recognized (module doc).

    The recognizer labels half bars from the non-drum notes' sounding
    16ths; a chord starts where its value changes.
    """
    if len(notes.chord_beats):
        return notes.chord_beats, notes.chord_values
    tonal = ~notes.is_drum
    if not tonal.any():
        return np.zeros(0), np.zeros(0, np.int64)
    on, end = notes.onset_ticks[tonal], notes.end_ticks[tonal]
    keep = on >= 0
    rows = np.column_stack([notes.pitch[tonal], on, end - on])[keep]
    per_tick = chords.recognize_chords(rows, notes.n_bars * TICKS_PER_BAR)
    changes = np.flatnonzero(np.diff(per_tick, prepend=-1))
    return changes / TICKS_PER_BEAT, per_tick[changes]


def sections(notes: Notes) -> list[tuple[int, int, str]]:
    """(first bar, bars, label) of every marked section, in order; empty without ``section`` markers.

    A marker belongs to the bar its 16th falls in; of several markers in one
    bar the last counts. A section lasts until the next one starts; the last
    until the end of the piece (:attr:`Notes.n_bars`).
    """
    starts: dict[int, str] = {}
    if not notes.section_labels:
        return []
    for beat, label in zip(notes.section_beats.tolist(), notes.section_labels, strict=True):
        starts[max(round(beat * TICKS_PER_BEAT), 0) // TICKS_PER_BAR] = label
    bars = sorted(starts)
    ends = [*bars[1:], max(notes.n_bars, bars[-1] + 1)]
    return [(bar, end - bar, starts[bar]) for bar, end in zip(bars, ends, strict=True)]
