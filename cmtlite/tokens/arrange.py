"""Arranged POP909: a song's own melody and piano over an MMA band backing, on the song's beat grid.

POP909 gives piano parts (MELODY, BRIDGE, PIANO tracks) and timed chord labels
(``chord_midi.txt``: start s, end s, Harte-style label such as ``C#:min7/b7``
or ``N``). Chord spans start on beats, so they fix the beat grid: between two
chord starts the beats are spaced evenly at the MIDI's tempo, and the
downbeat is the beat phase on which most chords change. On that grid:

* the song's MELODY track becomes the *lead* family, its PIANO track the *piano* family
  (BRIDGE, an instrumental counter-line, is left out as before);
* the chord labels become an MMA (Musical MIDI Accompaniment) song in a
  seeded groove; MMA renders human-written drum / bass / guitar / strings
  patterns. Its tracks map to families by role: ``Drum*`` -> drums,
  ``Bass*`` and ``Walk*`` -> bass, others by GM program; MMA's own piano and
  organ comping is dropped (the song's piano already plays the harmony), and
  tracks with no family (pads, sax chords) are re-voiced as strings.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import miditoolkit
import numpy as np

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BEAT
from cmtlite.errors import ConfigError, MidiReadError
from cmtlite.timing import beat_s_to_tempo, tempo_to_beat_s
from cmtlite.tokens.chords import NOTE_NAMES, ROOTS, reduce_label
from cmtlite.tokens.codec import Score, make_score
from cmtlite.tokens.vocab import BASS, DRUMS, LEAD, PIANO, STRINGS, program_to_family

CHORD_FILE = "chord_midi.txt"
SONG_TRACKS = ("MELODY", "PIANO")
# Straight-feel 4/4 MMA grooves with a band (swing and shuffle grooves do not fit a 16th grid).
MMA_GROOVES = (
    "60srock",
    "8beat",
    "ballad",
    "basicrock",
    "bossanova",
    "bvfunk",
    "dsoul",
    "folk",
    "folkrock",
    "guitarballad",
    "lfusion",
    "pianoballad",
    "popballad",
    "R&B",
    "R&B-Ballad",
    "rockballad",
    "ska",
    "slowcountry",
    "softrock",
    "stringballad",
    "strut",
    "twist",
)
_MMA_TIMEOUT_S = 120
_QUALITIES = {
    "maj": "",
    "min": "m",
    "7": "7",
    "maj7": "maj7",
    "min7": "m7",
    "sus2": "sus2",
    "sus4": "sus4",
    "sus4(b7)": "7sus4",
    "maj6": "6",
    "min6": "m6",
    "dim": "dim",
    "dim7": "dim7",
    "hdim7": "m7b5",
    "aug": "aug",
    "minmaj7": "mM7",
}
_DEGREES = {"1": 0, "2": 2, "3": 4, "4": 5, "5": 7, "6": 9, "7": 11}


@dataclass(frozen=True)
class ChordSpan:
    """One chord label: ``start_s`` to ``end_s`` in seconds; ``label`` Harte-style or ``N``."""

    start_s: float
    end_s: float
    label: str


def read_chord_labels(path: Path) -> list[ChordSpan]:
    """Chord spans of a POP909 ``chord_midi.txt``, in time order.

    Raises
    ------
    MidiReadError
        Unreadable file or a line that is not ``start end label``.
    """
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        msg = f"{path}: cannot read chord file ({err})"
        raise MidiReadError(msg) from err
    spans = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        try:
            if fields:
                spans.append(ChordSpan(float(fields[0]), float(fields[1]), fields[2]))
        except (ValueError, IndexError) as err:
            msg = f"{path}: line {number}: expected 'start_s end_s label' (got {line!r})"
            raise MidiReadError(msg) from err
    return sorted(spans, key=lambda s: s.start_s)


def mma_chord(label: str) -> str:
    """MMA chord symbol of a Harte-style label (``C#:min7/b7`` -> ``C#m7/B``; ``N`` -> ``z``, a rest)."""
    if ":" not in label:
        return "z"
    root_name, rest = label.split(":", 1)
    if root_name not in ROOTS:
        return "z"
    quality, _, bass = rest.partition("/")
    suffix = _QUALITIES.get(quality, "m" if quality.startswith("min") else "")
    symbol = root_name + suffix
    if bass:
        flats = bass.count("b") - bass.count("#")
        degree = _DEGREES.get(bass.strip("b#"))
        if degree is not None:
            symbol += "/" + NOTE_NAMES[(ROOTS[root_name] + degree - flats) % 12]
    return symbol


def _tempo_at_s(midi: miditoolkit.MidiFile, seconds: np.ndarray) -> np.ndarray:
    """The MIDI's tempo (BPM) in force at each time in ``seconds``."""
    changes = sorted(midi.tempo_changes, key=lambda c: c.time) or [miditoolkit.TempoChange(120.0, 0)]
    tick_to_s = midi.get_tick_to_time_mapping()
    change_s = np.array([tick_to_s[min(c.time, len(tick_to_s) - 1)] for c in changes])
    index = np.clip(np.searchsorted(change_s, seconds, side="right") - 1, 0, len(changes) - 1)
    return np.array([changes[i].tempo for i in index])


def beat_grid(chords: list[ChordSpan], midi: miditoolkit.MidiFile) -> tuple[np.ndarray, int]:
    """(beat times in s, pickup beats): the song's beats and how many beats precede its first downbeat.

    Every chord start is a beat; between chord starts the beats are evenly
    spaced with the count set by the MIDI's tempo. The downbeat phase (0..3)
    is the one on which most real chords (not ``N``) start.
    """
    starts = np.array([c.start_s for c in chords] + [chords[-1].end_s])
    period_s = tempo_to_beat_s(_tempo_at_s(midi, starts[:-1]))
    counts = np.maximum(np.rint(np.diff(starts) / period_s), 1).astype(int)
    beats = np.concatenate([np.linspace(a, b, n, endpoint=False) for a, b, n in zip(starts[:-1], starts[1:], counts, strict=True)])
    beats = np.append(beats, starts[-1])
    first_beat = np.concatenate([[0], np.cumsum(counts)[:-1]])
    real = np.array([c.label != "N" for c in chords])
    votes = np.bincount(first_beat[real] % BEATS_PER_BAR, minlength=BEATS_PER_BAR)
    downbeat_phase = int(np.argmax(votes))
    return beats, (BEATS_PER_BAR - downbeat_phase) % BEATS_PER_BAR


def seconds_to_beats(seconds: np.ndarray, beats_s: np.ndarray) -> np.ndarray:
    """Fractional beat index of times in ``seconds`` on the grid ``beats_s``, extrapolated beyond its ends."""
    seconds = np.asarray(seconds, float)
    index = np.interp(seconds, beats_s, np.arange(len(beats_s), dtype=float))
    before, after = seconds < beats_s[0], seconds > beats_s[-1]
    index[before] = (seconds[before] - beats_s[0]) / (beats_s[1] - beats_s[0])
    index[after] = len(beats_s) - 1 + (seconds[after] - beats_s[-1]) / (beats_s[-1] - beats_s[-2])
    return index


def song_notes(midi: miditoolkit.MidiFile, beats_s: np.ndarray, pickup_beats: int) -> tuple[np.ndarray, int]:
    """(notes (N, 4) of the MELODY (lead family) and PIANO (piano family) tracks on the grid, notes dropped before beat 0)."""
    tick_to_s = midi.get_tick_to_time_mapping()
    rows = []
    for track in midi.instruments:
        if track.name.upper() in SONG_TRACKS and track.notes:
            on = np.array([[n.start, n.end, n.pitch] for n in track.notes])
            start_s, end_s = tick_to_s[np.minimum(on[:, :2], len(tick_to_s) - 1)].T
            start = np.rint(TICKS_PER_BEAT * (seconds_to_beats(start_s, beats_s) + pickup_beats)).astype(int)
            end = np.rint(TICKS_PER_BEAT * (seconds_to_beats(end_s, beats_s) + pickup_beats)).astype(int)
            family = LEAD if track.name.upper() == "MELODY" else PIANO
            rows.append(np.stack([np.full(len(on), family), on[:, 2], start, np.maximum(end - start, 1)], axis=1))
    notes = np.concatenate(rows) if rows else np.zeros((0, 4), int)
    keep = notes[:, 2] >= 0
    return notes[keep], int((~keep).sum())


def beat_labels(chords: list[ChordSpan], beats_s: np.ndarray, pickup_beats: int) -> list[str]:
    """The chord label sounding on every beat of the grid from bar 0 (``N`` in the pickup and gaps), whole bars."""
    starts = np.array([c.start_s for c in chords])
    labels = ["N"] * pickup_beats
    for time_s in beats_s[:-1] + 1e-3:
        index = int(np.searchsorted(starts, time_s, side="right")) - 1
        labels.append(chords[index].label if index >= 0 and time_s < chords[index].end_s else "N")
    return labels + ["N"] * (-len(labels) % BEATS_PER_BAR)


def mma_source(chords: list[ChordSpan], beats_s: np.ndarray, pickup_beats: int, *, groove: str, tempo_bpm: float, seed: int) -> str:
    """An MMA song: one line per bar with the chord on each beat (``/`` repeats it, ``z`` rests)."""
    symbols = [mma_chord(label) for label in beat_labels(chords, beats_s, pickup_beats)]
    lines = [f"RndSeed {seed}", f"Tempo {max(round(tempo_bpm), 1)}", f"Groove {groove}"]
    for bar in range(len(symbols) // BEATS_PER_BAR):
        beat_symbols = symbols[bar * BEATS_PER_BAR : (bar + 1) * BEATS_PER_BAR]
        shown = [s if i == 0 or s != beat_symbols[i - 1] else "/" for i, s in enumerate(beat_symbols)]
        lines.append(f"{bar + 1} {' '.join(shown)}")
    return "\n".join(lines) + "\n"


def mma_family(track: miditoolkit.Instrument) -> int | None:
    """Family of an MMA track by role (see module doc); None for dropped piano/organ comping."""
    name = track.name.lower()
    if track.is_drum or name.startswith("drum"):
        return DRUMS
    if name.startswith(("bass", "walk")):
        return BASS
    family = program_to_family(track.program, is_drum=False)
    if family == PIANO:
        return None
    return STRINGS if family is None else family


def require_mma() -> str:
    """Path of the ``mma`` executable.

    Raises
    ------
    ConfigError
        ``mma`` is not installed.
    """
    path = shutil.which("mma")
    if path is None:
        msg = "mma (Musical MIDI Accompaniment) is not installed: `apt-get install mma`, or prepare with --arrange none"
        raise ConfigError(msg)
    return path


def render_backing(source: str) -> np.ndarray:
    """Notes (N, 4) of the band MMA renders from ``source``, on the 16th grid of its own resolution."""
    with tempfile.TemporaryDirectory(prefix="cmtlite-mma-") as tmp:
        song, out = Path(tmp) / "song.mma", Path(tmp) / "song.mid"
        song.write_text(source)
        command = [require_mma(), "-w", "-m", "10000", "-f", str(out), str(song)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=_MMA_TIMEOUT_S, check=False)
        if done.returncode != 0 or not out.exists():
            msg = f"mma failed: {(done.stdout + done.stderr).strip().splitlines()[-1:] or done.returncode}"
            raise MidiReadError(msg)
        midi = miditoolkit.MidiFile(str(out))
    per_tick = TICKS_PER_BEAT / midi.ticks_per_beat
    rows = []
    for track in midi.instruments:
        family = mma_family(track)
        if family is not None:
            for note in track.notes:
                start, end = round(note.start * per_tick), round(note.end * per_tick)
                rows.append((family, note.pitch, start, max(end - start, 1)))
    return np.asarray(rows, np.int64).reshape(-1, 4)


def read_song(midi_path: Path) -> tuple[miditoolkit.MidiFile, list[ChordSpan], np.ndarray, int]:
    """(MIDI, chord spans, beat times in s, pickup beats) of a POP909 song with its ``chord_midi.txt``.

    Raises
    ------
    MidiReadError
        Unreadable MIDI or chord file, or no chords.
    """
    try:
        midi = miditoolkit.MidiFile(str(midi_path))
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        msg = f"{midi_path}: not a readable MIDI file ({err})"
        raise MidiReadError(msg) from err
    chords = read_chord_labels(Path(midi_path).with_name(CHORD_FILE))
    if not chords:
        msg = f"{midi_path}: empty chord file"
        raise MidiReadError(msg)
    return midi, chords, *beat_grid(chords, midi)


def arrange_song(midi_path: Path, *, groove: str | None, seed: int) -> tuple[Score, dict[str, int]]:
    """The song at ``midi_path`` (with its ``chord_midi.txt``) on its beat grid, over a ``groove`` backing.

    ``groove=None`` gives the song's piano parts alone. The score's chords
    are the song's labels, reduced to the vocabulary's qualities
    (:func:`~cmtlite.tokens.chords.reduce_label`). Returns the score and
    counts of what was changed (see :func:`~cmtlite.tokens.codec.make_score`,
    plus ``dropped_notes`` before the first beat).

    Raises
    ------
    MidiReadError
        Unreadable MIDI or chord file, no chords, or MMA failed.
    """
    midi, chords, beats_s, pickup = read_song(midi_path)
    tempo_bpm = round(beat_s_to_tempo(float(np.median(np.diff(beats_s)))), 2)
    notes, dropped = song_notes(midi, beats_s, pickup)
    if groove is not None:
        notes = np.concatenate([notes, render_backing(mma_source(chords, beats_s, pickup, groove=groove, tempo_bpm=tempo_bpm, seed=seed))])
    chord_per_beat = [reduce_label(label) for label in beat_labels(chords, beats_s, pickup)]
    score, stats = make_score(notes, tempo_bpm=tempo_bpm, chords=np.repeat(chord_per_beat, TICKS_PER_BEAT))
    return score, {**stats, "dropped_notes": dropped}
