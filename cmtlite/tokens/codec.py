"""Notes on a 16th grid <-> compound-word tokens carrying density, strength and beat-timing.

Token order (one row per token, fields in :data:`~cmtlite.tokens.vocab.FIELDS`)::

    bar      (metrical, beat=bar,  density=d,  beat_timing, chord)      one per bar
    position (metrical, beat=p,    strength=s, beat_timing, chord)      one per onset tick
    note     (note, pitch, duration, instrument, chord)                 family, then pitch order
    ...
    eos

*Density* of a bar is its number of distinct onset ticks (0..16); *strength*
of a position is the number of notes (all instruments) starting on that tick,
clipped to ``STRENGTH_CAP``; *beat_timing* = round(M * beat index / total
beats) with M = ``BEAT_TIMING_BINS``; *chord* is the chord sounding at the
token's tick (bar token: the bar's first tick), so the model is told the
harmony every note is played over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.errors import TokenGrammarError
from cmtlite.tokens.chords import NO_CHORD, chord_label, chords_from_changes, parse_chord
from cmtlite.tokens.vocab import (
    BEAT,
    BEAT_BAR,
    BEAT_TIMING,
    BEAT_TIMING_BINS,
    CHORD,
    DENSITY,
    DURATION,
    FAMILIES,
    FIELDS,
    IGNORE,
    INSTRUMENT,
    MAX_DURATION_TICKS,
    N_FIELDS,
    PITCH,
    STRENGTH,
    STRENGTH_CAP,
    TYPE,
    TYPE_EOS,
    TYPE_METRICAL,
    TYPE_NAMES,
    TYPE_NOTE,
    VOCAB_SIZES,
    to_index,
    to_value,
)

# Columns of a notes array.
FAMILY_COL, PITCH_COL, START_COL, DURATION_COL = range(4)
_VOCAB_LIMITS = np.asarray(VOCAB_SIZES)


@dataclass(frozen=True)
class Score:
    """Notes of a piece on the 16th-note grid.

    Attributes
    ----------
    notes : np.ndarray [shape=(N, 4), dtype=int64]
        Rows of (family, pitch 0..127, start tick, duration in ticks >= 1),
        sorted by start, family, pitch; at most one note per (family, pitch,
        start).
    tempo_bpm : float
        The piece's tempo in beats per minute.
    n_bars : int
        Number of 4/4 bars of 16 ticks; every note starts inside them.
    chords : np.ndarray [shape=(n_bars * 16,), dtype=int64]
        Chord value (:mod:`cmtlite.tokens.chords`) sounding at every tick; 0 = none.
    """

    notes: np.ndarray
    tempo_bpm: float
    n_bars: int
    chords: np.ndarray

    def chord_changes(self) -> list[tuple[int, int]]:
        """(tick, chord value) at the first tick and wherever the chord changes."""
        changes = np.flatnonzero(np.diff(self.chords, prepend=-1))
        return [(int(t), int(self.chords[t])) for t in changes]


def make_score(
    notes: np.ndarray, *, tempo_bpm: float, n_bars: int | None = None, chords: np.ndarray | None = None
) -> tuple[Score, dict[str, int]]:
    """Normalize raw grid notes into a :class:`Score`.

    Durations are clipped to 1..``MAX_DURATION_TICKS``; of notes sharing
    (family, pitch, start) the longest is kept. ``chords`` (chord value per
    tick, None: no chords) is cut or padded with "none" to the bars. Returns
    the score and counts of what was changed (``clipped_durations``,
    ``merged_duplicates``).
    """
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4).copy()
    too_long = int((notes[:, DURATION_COL] > MAX_DURATION_TICKS).sum())
    notes[:, DURATION_COL] = np.clip(notes[:, DURATION_COL], 1, MAX_DURATION_TICKS)
    order = np.lexsort((-notes[:, DURATION_COL], notes[:, PITCH_COL], notes[:, FAMILY_COL], notes[:, START_COL]))
    notes = notes[order]
    key = notes[:, [START_COL, FAMILY_COL, PITCH_COL]]
    first = np.ones(len(notes), bool)
    first[1:] = np.any(key[1:] != key[:-1], axis=1)
    notes = notes[first]
    last_bar = int(notes[:, START_COL].max()) // TICKS_PER_BAR + 1 if len(notes) else 0
    n_bars = max(n_bars or 0, last_bar)
    stats = {"clipped_durations": too_long, "merged_duplicates": int((~first).sum())}
    per_tick = np.full(n_bars * TICKS_PER_BAR, NO_CHORD, np.int64)
    if chords is not None:
        chords = np.asarray(chords, np.int64)[: len(per_tick)]
        per_tick[: len(chords)] = chords
    return Score(notes=notes, tempo_bpm=float(tempo_bpm), n_bars=n_bars, chords=per_tick), stats


def bar_densities(score: Score) -> np.ndarray:
    """Distinct onset ticks per bar, shape (n_bars,), values 0..16."""
    ticks = np.unique(score.notes[:, START_COL])
    return np.bincount(ticks // TICKS_PER_BAR, minlength=score.n_bars)[: score.n_bars]


def onset_strengths(score: Score) -> tuple[np.ndarray, np.ndarray]:
    """(onset ticks, strengths): each distinct onset tick and its note count, clipped to the cap."""
    ticks, counts = np.unique(score.notes[:, START_COL], return_counts=True)
    return ticks, np.minimum(counts, STRENGTH_CAP)


def beat_timing(beat_index: np.ndarray | int, total_beats: int) -> np.ndarray:
    """round(M * beat index / total beats), in 0..M."""
    return np.rint(BEAT_TIMING_BINS * np.asarray(beat_index) / max(total_beats, 1)).astype(np.int64)


def carried_beat_timing(tokens: np.ndarray) -> np.ndarray:
    """Beat-timing index in force at each token, shape (T,): each metrical token's, carried over its notes (0 before the first)."""
    timing = np.asarray(tokens)[:, BEAT_TIMING].astype(np.int64)
    last = np.maximum.accumulate(np.where(timing > 0, np.arange(len(timing)), -1))
    return np.where(last >= 0, timing[np.maximum(last, 0)], 0)


def _row(**values: int) -> np.ndarray:
    row = np.zeros(N_FIELDS, np.int64)
    for name, value in values.items():
        row[FIELDS.index(name)] = value
    return row


def encode(score: Score) -> np.ndarray:
    """CP tokens of a score, shape (T, N_FIELDS), vocabulary indices (see module doc).

    Examples
    --------
    >>> score, _ = make_score([[1, 60, 0, 4]], tempo_bpm=120)
    >>> encode(score).shape
    (4, 9)
    """
    total_beats = score.n_bars * BEATS_PER_BAR
    density = bar_densities(score)
    ticks, strengths = onset_strengths(score)
    notes = score.notes
    bounds = np.searchsorted(notes[:, START_COL], ticks, side="left").tolist() + [len(notes)]
    bar_of_onset = ticks // TICKS_PER_BAR
    chord = to_index(CHORD, score.chords)
    rows = []
    onset = 0
    for bar in range(score.n_bars):
        rows.append(
            _row(
                type=TYPE_METRICAL,
                beat=BEAT_BAR,
                density=to_index(DENSITY, density[bar]),
                beat_timing=to_index(BEAT_TIMING, beat_timing(bar * BEATS_PER_BAR, total_beats)),
                chord=chord[bar * TICKS_PER_BAR],
            )
        )
        while onset < len(ticks) and bar_of_onset[onset] == bar:
            tick = int(ticks[onset])
            timing = to_index(BEAT_TIMING, beat_timing(tick // TICKS_PER_BEAT, total_beats))
            position = to_index(BEAT, tick % TICKS_PER_BAR)
            strength = to_index(STRENGTH, strengths[onset])
            rows.append(_row(type=TYPE_METRICAL, beat=position, strength=strength, beat_timing=timing, chord=chord[tick]))
            group = notes[bounds[onset] : bounds[onset + 1]]
            block = np.zeros((len(group), N_FIELDS), np.int64)
            block[:, TYPE] = TYPE_NOTE
            block[:, PITCH] = to_index(PITCH, group[:, PITCH_COL])
            block[:, DURATION] = to_index(DURATION, group[:, DURATION_COL])
            block[:, INSTRUMENT] = to_index(INSTRUMENT, group[:, FAMILY_COL])
            block[:, CHORD] = chord[tick]
            rows.extend(block)
            onset += 1
    rows.append(_row(type=TYPE_EOS))
    return np.stack(rows)


def decode(tokens: np.ndarray, *, tempo_bpm: float) -> Score:
    """The score of a token array (inverse of :func:`encode`).

    Tokens that break the grammar (a note before any position, a position
    before any bar, values out of range) are skipped; decoding stops at the
    first EOS. :func:`grammar_errors` counts what was skipped. The chord of a
    bar or position token sounds until the next one's (a note's own chord is
    its position's).
    """
    notes, bar, position, n_bars = [], -1, None, 0
    chord_starts: list[tuple[int, int]] = []
    for row in np.asarray(tokens, np.int64):
        kind = row[TYPE]
        if kind == TYPE_EOS:
            break
        if _out_of_range(row):
            continue
        if kind == TYPE_METRICAL and row[BEAT] == BEAT_BAR:
            bar, position, n_bars = bar + 1, None, n_bars + 1
            chord_starts.append((bar * TICKS_PER_BAR, int(row[CHORD])))
        elif kind == TYPE_METRICAL and row[BEAT] > BEAT_BAR and bar >= 0:
            position = bar * TICKS_PER_BAR + to_value(BEAT, int(row[BEAT]))
            chord_starts.append((position, int(row[CHORD])))
        elif kind == TYPE_NOTE and position is not None and row[PITCH] and row[DURATION] and row[INSTRUMENT]:
            notes.append((to_value(INSTRUMENT, row[INSTRUMENT]), to_value(PITCH, row[PITCH]), position, to_value(DURATION, row[DURATION])))
    ticks, values = np.asarray(chord_starts, np.int64).reshape(-1, 2).T
    chords = chords_from_changes(ticks, np.maximum(to_value(CHORD, values), NO_CHORD), n_bars * TICKS_PER_BAR)
    score, _ = make_score(np.asarray(notes, np.int64).reshape(-1, 4), tempo_bpm=tempo_bpm, n_bars=n_bars, chords=chords)
    return score


def _out_of_range(row: np.ndarray) -> bool:
    return bool(np.any(row < 0) or np.any(row >= _VOCAB_LIMITS))


def grammar_errors(tokens: np.ndarray) -> int:
    """Number of tokens :func:`decode` would skip or that break the token order.

    Counted: values out of a field's range, a position before any bar, a
    position not after the previous one in its bar, a note without a
    position, note tokens out of (family, pitch) order, tokens after EOS, and
    a missing final EOS.
    """
    errors, bar_seen, last_pos, last_note, ended = 0, False, -1, None, False
    for row in np.asarray(tokens, np.int64):
        if ended:
            errors += 1
            continue
        if _out_of_range(row):
            errors += 1
        elif row[TYPE] == TYPE_EOS:
            ended = True
        elif row[TYPE] == TYPE_METRICAL and row[BEAT] == BEAT_BAR:
            bar_seen, last_pos, last_note = True, -1, None
        elif row[TYPE] == TYPE_METRICAL and row[BEAT] > BEAT_BAR:
            errors += int(not bar_seen or row[BEAT] <= last_pos)
            last_pos, last_note = int(row[BEAT]), (-1, -1)
        elif row[TYPE] == TYPE_NOTE:
            key = (int(row[INSTRUMENT]), int(row[PITCH]))
            errors += int(last_note is None or key <= last_note or not all(key) or row[DURATION] == IGNORE)
            last_note = key if last_note is not None else None
        else:
            errors += 1
    return errors + int(not ended)


def token_to_dict(row: np.ndarray) -> dict[str, int | str]:
    """A token as musical values: ``type`` and ``instrument`` by name, ``beat`` "bar" or 0..15,
    ``chord`` as a label (``A:min``, ``N``), density/strength/pitch/duration/beat_timing as
    integers; ignored fields omitted."""
    row = np.asarray(row, np.int64)
    out: dict[str, int | str] = {"type": TYPE_NAMES[int(row[TYPE])]}
    if row[BEAT]:
        out["beat"] = "bar" if row[BEAT] == BEAT_BAR else int(to_value(BEAT, row[BEAT]))
    for field in (DENSITY, STRENGTH, PITCH, BEAT_TIMING):
        if row[field]:
            out[FIELDS[field]] = int(to_value(field, row[field]))
    if row[DURATION]:
        out["duration"] = int(to_value(DURATION, row[DURATION]))
    if row[INSTRUMENT]:
        out["instrument"] = FAMILIES[int(to_value(INSTRUMENT, row[INSTRUMENT]))]
    if row[CHORD]:
        out["chord"] = chord_label(int(to_value(CHORD, row[CHORD])))
    return out


def _index(obj: dict, name: str, value: object) -> int:
    """Vocabulary index of one musical value of field ``name``."""
    field = FIELDS.index(name)
    if name == "type":
        index = TYPE_NAMES.index(value) if value in TYPE_NAMES else -1
    elif name == "instrument":
        index = to_index(INSTRUMENT, FAMILIES.index(value)) if value in FAMILIES else -1
    elif name == "beat" and value == "bar":
        index = BEAT_BAR
    elif name == "chord":
        try:
            index = to_index(CHORD, parse_chord(value)) if isinstance(value, str) else -1
        except ValueError:
            index = -1
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        index = to_index(field, value)
    else:
        index = -1
    if not 0 < index < VOCAB_SIZES[field] and not (name == "type" and index == 0):
        msg = f"bad {name} value {value!r} in token {obj}"
        raise TokenGrammarError(msg)
    return index


def dict_to_token(obj: dict) -> np.ndarray:
    """Inverse of :func:`token_to_dict`; missing or null fields are ignored.

    Raises
    ------
    TokenGrammarError
        Unknown field, missing ``type``, or a value out of range.
    """
    if not isinstance(obj, dict) or "type" not in obj:
        msg = f"a token must be an object with a 'type' (got {obj!r})"
        raise TokenGrammarError(msg)
    unknown = set(obj) - set(FIELDS)
    if unknown:
        msg = f"unknown token field(s) {sorted(unknown)} in {obj}"
        raise TokenGrammarError(msg)
    row = np.zeros(N_FIELDS, np.int64)
    for name, value in obj.items():
        if value is not None:
            row[FIELDS.index(name)] = _index(obj, name, value)
    return row
