"""A few bars of a MIDI file printed per part as a score a musician can read and check the metrics against.

Per part, per bar: the bar's section and chord markers (or POP909 labels, or
recognized chords), then one line per group of notes that start together
with one length and velocity: onset ``bar.beat.16th`` (bars counted from 0
as in ``controls.json`` and the metrics, beats and 16ths from 1), the length
on the 16th grid (``3/16``, or whole beats: ``2 beats``), the velocity
(``v96``) and the pitch names (``C#4``, middle C = C4; drums by their GM
name and key).
"""

from __future__ import annotations

import numpy as np
import pretty_midi

from cmtlite.constants import TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.errors import ConfigError
from cmtlite.evaluate.notes import Notes, harmony, sections
from cmtlite.tokens.chords import chord_label


def position(tick: int) -> str:
    """``bar.beat.16th`` of a 16th on the grid (bar from 0, beat and 16th from 1)."""
    bar, within = divmod(int(tick), TICKS_PER_BAR)
    beat, sixteenth = divmod(within, TICKS_PER_BEAT)
    return f"{bar}.{beat + 1}.{sixteenth + 1}"


def length_text(sixteenths: int) -> str:
    """A length in 16ths as a musician writes it: ``3/16`` or ``1 beat``, ``2 beats``."""
    if sixteenths % TICKS_PER_BEAT:
        return f"{sixteenths}/16"
    beats = sixteenths // TICKS_PER_BEAT
    return f"{beats} beat{'s' if beats != 1 else ''}"


def pitch_name(pitch: int, *, drum: bool) -> str:
    """``C#4`` (middle C = C4), or a drum's GM name and key: ``Acoustic Snare (38)``."""
    if drum:
        return f"{pretty_midi.note_number_to_drum_name(pitch) or 'drum'} ({pitch})"
    return pretty_midi.note_number_to_name(pitch)


def parse_bars(text: str) -> tuple[int, int]:
    """(first, last) bar of ``FIRST-LAST`` or ``BAR`` (counted from 0).

    Raises
    ------
    ConfigError
        Not such a range, or last before first.
    """
    first, dash, last = text.strip().partition("-")
    try:
        bars = (int(first), int(last) if dash else int(first))
    except ValueError:
        bars = (-1, -1)
    if bars[0] < 0 or bars[1] < bars[0]:
        msg = f"bars {text!r}: expected FIRST-LAST (e.g. 0-7) or one bar, counted from 0, with LAST >= FIRST"
        raise ConfigError(msg)
    return bars


def select_parts(notes: Notes, names: tuple[str, ...] | None) -> list[int]:
    """Parts whose name or family is one of ``names`` (case-insensitive), in file order; every part for None.

    Raises
    ------
    ConfigError
        A name no part has.
    """
    families = notes.part_families()
    if names is None:
        return list(range(len(notes.part_names)))
    wanted = {name.strip().lower() for name in names if name.strip()}
    found = [i for i, (name, family) in enumerate(zip(notes.part_names, families, strict=True)) if {name.lower(), family} & wanted]
    known = {n.lower() for n in notes.part_names} | set(families)
    missing = sorted(wanted - known)
    if missing or not found:
        have = ", ".join(f"{name} ({family})" for name, family in zip(notes.part_names, families, strict=True))
        msg = f"no track {', '.join(missing) or 'selected'}: the file has {have}"
        raise ConfigError(msg)
    return found


def bar_markers(notes: Notes, first: int, last: int) -> dict[int, list[str]]:
    """Per bar in first..last, its section start and chord changes as text (``section A``, ``A:min@1.1``)."""
    out: dict[int, list[str]] = {bar: [] for bar in range(first, last + 1)}
    for start, _, label in sections(notes):
        if start in out:
            out[start].append(f"section {label}")
    starts, values = harmony(notes)
    for beat, value in zip(np.asarray(starts).tolist(), np.asarray(values).tolist(), strict=True):
        tick = round(beat * TICKS_PER_BEAT)
        if tick // TICKS_PER_BAR in out:
            out[tick // TICKS_PER_BAR].append(f"{chord_label(value)}@{position(tick).split('.', 1)[1]}")
    return out


def part_lines(notes: Notes, part: int, bar: int) -> list[str]:
    """The note lines of one part in one bar: notes grouped by (onset, length, velocity), pitches low to high."""
    rows = (notes.part == part) & (notes.onset_ticks // TICKS_PER_BAR == bar) & (notes.onset_ticks >= 0)
    on, length = notes.onset_ticks[rows], notes.end_ticks[rows] - notes.onset_ticks[rows]
    velocity, pitch = notes.velocity[rows], notes.pitch[rows]
    drum = notes.part_is_drum[part]
    groups: dict[tuple[int, int, int], list[int]] = {}
    for key, p in sorted(zip(zip(on.tolist(), length.tolist(), velocity.tolist(), strict=True), pitch.tolist(), strict=True)):
        groups.setdefault(key, []).append(p)
    return [f"    {position(t):<8} {length_text(n):<9} v{v:<4} {', '.join(pitch_name(p, drum=drum) for p in ps)}"
            for (t, n, v), ps in groups.items()]


def format_score(notes: Notes, *, bars: tuple[int, int] = (0, 7), parts: tuple[str, ...] | None = None) -> str:
    """Bars ``bars`` (first, last, from 0) of the parts named in ``parts`` (names or families; None: all) as text.

    Raises
    ------
    ConfigError
        A part name the file lacks, or bars that start after the piece ends.
    """
    first, last = bars
    if first >= notes.n_bars:
        msg = f"bars {first}-{last}: the piece has {notes.n_bars} bars (0-{notes.n_bars - 1})"
        raise ConfigError(msg)
    last = min(last, notes.n_bars - 1)
    chosen = select_parts(notes, parts)
    markers = bar_markers(notes, first, last)
    source = "" if len(notes.chord_beats) else " (chords recognized from the notes)"
    lines = [f"bars {first}-{last} of {notes.n_bars}; onsets bar.beat.16th (bar from 0, beat and 16th from 1){source}"]
    families = notes.part_families()
    for part in chosen:
        lines += ["", f"{notes.part_names[part]} ({families[part]}, program {notes.part_programs[part]})"]
        for bar in range(first, last + 1):
            lines.append(f"  bar {bar}" + "".join(f"  {m}" for m in markers[bar]))
            lines += part_lines(notes, part, bar) or ["    (rest)"]
    return "\n".join(lines)
