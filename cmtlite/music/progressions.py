"""The progression library: the most frequent 4- and 8-bar chord progressions of POP909, in Roman numerals.

Mined by :func:`mine_progressions` (``cmtlite progressions``) from POP909's
own chord labels: every song is put on its chord beat grid
(:func:`~cmtlite.tokens.arrange.beat_grid`), its key estimated by
Krumhansl-Schmuckler on its melody and piano notes, and every 4-bar window
starting on a bar multiple of 4 (8-bar: of 8) read as the chord on each half
bar (beats 1 and 3), relative to the key's tonic, labels reduced to the
vocabulary's qualities. Windows with a half bar without a chord, or with
fewer than ``MIN_DISTINCT_CHORDS`` different chords (a vamp on one or two
chords makes no plan), or without a bar that opens on the tonic, are
skipped; the others are rotated to open on the tonic (:func:`from_tonic`). The most frequent windows per mode are kept
with their counts, of those whose own chord tones (one count per half bar)
a Krumhansl-Schmuckler estimate hears in their key (:func:`clear_in_key`):
``I V vi iii`` is as much G major as C major, and a plan must say its key.

A degree is written as the Roman numeral of the major scale step a chord's
root stands on (``bIII``, ``#IV`` for the others) plus the quality:
``VI:min`` is vi, ``V:7`` the dominant seventh, ``bVII:maj`` the flat seven.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmtlite.constants import BEATS_PER_BAR, PROGRESSIONS_PATH
from cmtlite.errors import ConfigError, MidiReadError
from cmtlite.outputs import write_json
from cmtlite.progress import progress_bar
from cmtlite.tokens.arrange import CHORD_FILE, beat_labels, read_song, song_notes
from cmtlite.tokens.chords import (
    MODES,
    NO_CHORD,
    QUALITIES,
    Key,
    chord_tone_table,
    chord_value,
    estimate_key,
    reduce_label,
)

DEGREES = ("I", "bII", "II", "bIII", "III", "IV", "#IV", "V", "bVI", "VI", "bVII", "VII")
SLOTS_PER_BAR = 2  # chords on beats 1 and 3
KEEP = {4: 24, 8: 12}  # progressions kept per length (bars) and mode
MIN_DISTINCT_CHORDS = 3
FORMAT = "cmtlite-progressions-1"


@dataclass(frozen=True)
class Progression:
    """A progression: ``degrees`` per half bar (``SLOTS_PER_BAR`` per bar), e.g. ``("I:maj", "I:maj", "V:maj", ...)``."""

    degrees: tuple[str, ...]
    count: int

    def chord_values(self, tonic: int) -> list[int]:
        """Chord value of every half bar in the key on ``tonic`` (pitch class)."""
        return [degree_chord(degree, tonic) for degree in self.degrees]


def chord_degree(value: int, tonic: int) -> str:
    """Roman degree of a chord value relative to ``tonic`` (``VI:min``)."""
    root, quality = divmod(value - 1, len(QUALITIES))
    return f"{DEGREES[(root - tonic) % 12]}:{QUALITIES[quality]}"


def degree_chord(degree: str, tonic: int) -> int:
    """Chord value of a Roman degree in the key on ``tonic``.

    Raises
    ------
    ValueError
        An unknown degree or quality.
    """
    numeral, _, quality = degree.partition(":")
    if numeral not in DEGREES or quality not in QUALITIES:
        msg = f"degree {degree!r} is not one of {', '.join(DEGREES)} with a quality of {', '.join(QUALITIES)}"
        raise ValueError(msg)
    return chord_value(tonic + DEGREES.index(numeral), quality)


def from_tonic(degrees: tuple[str, ...]) -> tuple[str, ...] | None:
    """A looped progression rotated to start on the first bar that opens on the tonic (``I:...``); None without one.

    Windows cut from a song start anywhere in its loop (``V V I I ...``); a
    plan must open on the tonic, and rotations of one loop are one progression.
    """
    for bar in range(len(degrees) // SLOTS_PER_BAR):
        if degrees[bar * SLOTS_PER_BAR].startswith("I:"):
            return degrees[bar * SLOTS_PER_BAR :] + degrees[: bar * SLOTS_PER_BAR]
    return None


def clear_in_key(degrees: tuple[str, ...], mode: str) -> bool:
    """Whether the progression's chord tones (one count per half bar) sound in its own key (tonic ``I``, ``mode``)."""
    found = estimate_key(chord_tone_table()[[degree_chord(d, 0) for d in degrees]].sum(axis=0))
    return found is not None and found[0] == Key(0, mode)


def song_windows(midi_path: Path) -> tuple[str, dict[int, list[tuple[str, ...]]]]:
    """(mode, {bars: [degree windows]}) of one POP909 song (see the module doc).

    Raises
    ------
    MidiReadError
        Unreadable MIDI or chord file, or no chords.
    """
    midi, chords, beats_s, pickup = read_song(midi_path)
    notes, _ = song_notes(midi, beats_s, pickup)
    key = estimate_key(np.bincount(notes[:, 1] % 12, weights=notes[:, 3], minlength=12)) if len(notes) else None
    if key is None:
        return "maj", {}
    tonic, mode = key[0].tonic, key[0].mode
    per_beat = [reduce_label(label) for label in beat_labels(chords, beats_s, pickup)]
    slots = per_beat[:: BEATS_PER_BAR // SLOTS_PER_BAR]
    n_bars = len(slots) // SLOTS_PER_BAR
    windows: dict[int, list[tuple[str, ...]]] = {}
    for length in KEEP:
        for bar in range(0, n_bars - length + 1, length):
            window = slots[bar * SLOTS_PER_BAR : (bar + length) * SLOTS_PER_BAR]
            rotated = from_tonic(tuple(chord_degree(v, tonic) for v in window)) if NO_CHORD not in window else None
            if rotated is not None and len(set(rotated)) >= MIN_DISTINCT_CHORDS:
                windows.setdefault(length, []).append(rotated)
    return mode, windows


def mine_progressions(pop909_dir: Path, output: Path, *, force: bool = False, quiet: bool = False) -> dict:
    """Mine the library from the POP909 songs under ``pop909_dir`` and write it to ``output`` (JSON); returns it.

    Raises
    ------
    ConfigError
        No POP909 song (a MIDI file with a ``chord_midi.txt`` beside it) under ``pop909_dir``.
    """
    songs = sorted(p for p in Path(pop909_dir).rglob("*.mid") if (p.parent / CHORD_FILE).is_file())
    if not songs:
        msg = f"{pop909_dir}: no POP909 songs (MIDI files with a {CHORD_FILE} beside them)"
        raise ConfigError(msg)
    counts = {mode: {length: Counter() for length in KEEP} for mode in MODES}
    song_modes: Counter = Counter()
    skipped = 0
    with progress_bar(total=len(songs), desc="progressions", unit="song", quiet=quiet) as bar:
        for path in songs:
            bar.update()
            try:
                mode, windows = song_windows(path)
            except MidiReadError:
                skipped += 1
                continue
            song_modes[mode] += 1
            for length, found in windows.items():
                counts[mode][length].update(found)
    library = {
        "format": FORMAT,
        "source": "POP909 chord_midi.txt labels (MIT); see cmtlite/progressions.py",
        "songs": dict(song_modes),
        "skipped_songs": skipped,
        "progressions": {
            mode: {
                str(length): [{"degrees": list(d), "count": n} for d, n in counts[mode][length].most_common()
                               if clear_in_key(d, mode)][:keep]
                for length, keep in KEEP.items()
            }
            for mode in MODES
        },
    }
    write_json(Path(output), library, force=force)
    return library


def load_progressions(path: Path = PROGRESSIONS_PATH) -> dict[str, list[Progression]]:
    """Mode -> progressions (4-bar and 8-bar together) of a library file.

    Raises
    ------
    ConfigError
        Missing or malformed file, or a mode without progressions.
    """
    try:
        data = json.loads(Path(path).read_text())
        library = {
            mode: [Progression(tuple(p["degrees"]), int(p["count"])) for length in data["progressions"][mode].values() for p in length]
            for mode in MODES
        }
        for progressions in library.values():
            for progression in progressions:
                for degree in progression.degrees:
                    degree_chord(degree, 0)
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = f"{path}: not a progression library ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err
    if data.get("format") != FORMAT or not all(library.values()):
        msg = f"{path}: not a {FORMAT} library with progressions in both modes"
        raise ConfigError(msg)
    return library

