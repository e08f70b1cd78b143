"""The token grammar the sampler walks: what a next token may be, given the controls.

Density and strength are held exactly, as in the training data:

* every bar opens with a bar token carrying the forced density (or a sampled
  one) and the bar's beat-timing; positions rise within a bar; a position
  gets exactly its strength in notes, in (instrument, pitch) order, and a bar
  exactly its density in positions (plus forced beats);
* a beat with a forced strength (a visual beat) and a hit tick must be
  played: the bar cannot skip past them;
* EOS is allowed only once the last bar may close;
* only the requested instrument families can be chosen, and a family
  silent for ``SILENT_LIMIT_BARS`` bars takes the next note it may;
* echoes: the grammar remembers what each tick played, so a tick that echoes
  an earlier one (:func:`~cmtlite.music.plan.echo_ticks`) can lean to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.controls import chords_per_tick
from cmtlite.errors import ConfigError
from cmtlite.music.plan import Plan, echo_ticks, scale_of
from cmtlite.tokens.chords import NO_CHORD
from cmtlite.tokens.vocab import (
    BEAT,
    BEAT_BAR,
    DENSITY,
    FAMILIES,
    INSTRUMENT,
    MAX_DENSITY,
    PITCH,
    STRENGTH,
    STRENGTH_CAP,
    TYPE,
    TYPE_EOS,
    TYPE_METRICAL,
    TYPE_NOTE,
    to_index,
    to_value,
)

FREE = -1  # a control value the model samples itself
PITCH_TOP = 128  # vocabulary index of pitch 127
SILENT_LIMIT_BARS = 4  # a family silent this many bars takes the next note it may


@dataclass(frozen=True)
class Controls:
    """What the music must follow.

    Attributes
    ----------
    n_bars : int
        Bars to write (>= 1).
    bar_density : np.ndarray [shape=(n_bars,), dtype=int]
        Distinct onset ticks per bar, 0..16, or ``FREE`` (-1).
    beat_strength : np.ndarray [shape=(n_bars * 4,), dtype=int]
        Strength forced on the position at each beat (notes on that tick,
        1..cap); 0 or ``FREE`` leaves the beat to the model.
    instruments : tuple of str
        Families the model may play.
    hit_ticks : np.ndarray [shape=(H,), dtype=int]
        Grid ticks (16ths from bar 0) that must carry a note onset (hit points).
    hit_strength : np.ndarray [shape=(H,), dtype=int]
        Strength forced on each hit tick (1..cap); 0 or ``FREE`` leaves it to
        the model (a forced beat's strength on the same tick wins). Empty: all free.
    chords : np.ndarray [shape=(n_bars * 16,) or (0,), dtype=int]
        Chord value (:mod:`cmtlite.tokens.chords`) at every tick; empty: no chords.
    scale : np.ndarray [shape=(12,) or (0,), dtype=bool]
        Pitch classes of the key's scale; empty: no key.
    echo : np.ndarray [shape=(n_bars * 16,) or (0,), dtype=int]
        The earlier tick each tick echoes, -1 for none (:func:`~cmtlite.music.plan.echo_ticks`); empty: no echoes.
    """

    n_bars: int
    bar_density: np.ndarray
    beat_strength: np.ndarray
    instruments: tuple[str, ...] = FAMILIES
    hit_ticks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hit_strength: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    chords: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    echo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if self.n_bars < 1:
            msg = f"need at least one bar (got {self.n_bars})"
            raise ConfigError(msg)
        if np.shape(self.bar_density) != (self.n_bars,) or np.shape(self.beat_strength) != (self.n_bars * BEATS_PER_BAR,):
            msg = f"controls must have {self.n_bars} bar densities and {self.n_bars * BEATS_PER_BAR} beat strengths"
            raise ConfigError(msg)
        if np.any((np.asarray(self.hit_ticks) < 0) | (np.asarray(self.hit_ticks) >= self.n_bars * TICKS_PER_BAR)):
            msg = f"hit ticks must lie in the {self.n_bars} bars (0..{self.n_bars * TICKS_PER_BAR - 1})"
            raise ConfigError(msg)
        if len(self.hit_strength) not in (0, len(self.hit_ticks)):
            msg = f"need one hit strength per hit tick (got {len(self.hit_strength)} for {len(self.hit_ticks)})"
            raise ConfigError(msg)
        n_ticks = self.n_bars * TICKS_PER_BAR
        if len(self.chords) not in (0, n_ticks) or len(self.echo) not in (0, n_ticks) or len(self.scale) not in (0, 12):
            msg = f"chords and echoes must give one value per tick of the {self.n_bars} bars, and a scale 12 pitch classes"
            raise ConfigError(msg)
        check_instruments(self.instruments)

    def chord_at(self, tick: int) -> int:
        """Chord value at a grid tick (none without chords)."""
        return int(self.chords[tick]) if len(self.chords) else NO_CHORD

    def echo_of(self, tick: int) -> int:
        """The earlier tick ``tick`` echoes, -1 for none."""
        return int(self.echo[tick]) if len(self.echo) else -1

    @cached_property
    def _hits_by_bar(self) -> dict[int, list[int]]:
        """Bar -> the hit ticks (from bar 0) in it."""
        by_bar: dict[int, list[int]] = {}
        for tick in np.asarray(self.hit_ticks, np.int64).tolist():
            by_bar.setdefault(tick // TICKS_PER_BAR, []).append(tick)
        return by_bar

    @cached_property
    def _hit_levels(self) -> dict[int, int]:
        """Hit tick -> its forced strength (0 or ``FREE``: none)."""
        levels = self.hit_strength if len(self.hit_strength) else np.zeros(len(self.hit_ticks), np.int64)
        return dict(zip(np.asarray(self.hit_ticks).tolist(), np.asarray(levels).tolist(), strict=True))

    def must_play(self, bar: int) -> set[int]:
        """Ticks of ``bar`` (0..15) that must carry an onset: its beats with a forced strength, and its hits."""
        levels = self.beat_strength[bar * BEATS_PER_BAR : (bar + 1) * BEATS_PER_BAR]
        required = {k * TICKS_PER_BEAT for k, level in enumerate(levels) if level > 0}
        return required | {int(t) - bar * TICKS_PER_BAR for t in self._hits_by_bar.get(bar, ())}

    def forced_strength(self, tick: int) -> int:
        """The strength forced on grid tick ``tick`` (from bar 0): its beat's, else its hit's; ``FREE`` (or 0) when none."""
        if tick % TICKS_PER_BEAT == 0 and self.beat_strength[tick // TICKS_PER_BEAT] > 0:
            return int(self.beat_strength[tick // TICKS_PER_BEAT])
        return int(self._hit_levels.get(tick, FREE))


def check_instruments(names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` if they are a non-empty set of instrument families.

    Raises
    ------
    ConfigError
        Empty, or naming an unknown family.
    """
    if not names or any(name not in FAMILIES for name in names):
        msg = f"instruments must be a non-empty subset of {','.join(FAMILIES)} (got {','.join(names) or 'none'})"
        raise ConfigError(msg)
    return names


def constant_controls(
    n_bars: int, *, density: int | None, strength: int | None, instruments: tuple[str, ...] = FAMILIES, plan: Plan | None = None
) -> Controls:
    """Controls with one density for every bar and one strength on every beat (None: left to the model), and the ``plan``'s
    chords and key (None: no chords)."""
    for name, value, top in (("density", density, MAX_DENSITY), ("strength", strength, STRENGTH_CAP)):
        if value is not None and not 0 <= value <= top:
            msg = f"{name} must be in 0..{top} (got {value})"
            raise ConfigError(msg)
    return Controls(
        n_bars=n_bars,
        bar_density=np.full(n_bars, FREE if density is None else density),
        beat_strength=np.full(n_bars * BEATS_PER_BAR, FREE if strength is None else strength),
        instruments=tuple(instruments),
        chords=chords_per_tick(plan.chords, n_bars) if plan else np.zeros(0, np.int64),
        scale=scale_of(plan.key) if plan else np.zeros(0, bool),
        echo=echo_ticks(plan.sections, n_bars) if plan else np.zeros(0, np.int64),
    )


class Grammar:
    """The sampler's position in the token grammar and the choices it allows.

    Density and strength are held exactly, as in the training data: a bar
    gets ``density`` positions (more only for forced beats) and a position
    gets ``strength`` notes.
    """

    def __init__(self, controls: Controls) -> None:
        self.controls = controls
        self.total_beats = controls.n_bars * BEATS_PER_BAR
        self.bar = -1  # index of the current bar
        self.position = -1  # tick in the bar of the last position token, -1 right after the bar token
        self.positions_in_bar = 0
        self.density = 0  # of the current bar
        self.strength = 0  # of the current position
        self.notes_at_position = 0
        self.last_note = (0, -1)  # (instrument index, pitch index) of the last note at this position
        self.last_bar_played = np.full(len(FAMILIES) + 1, -1)  # per instrument index: the last bar it played in
        self.played: dict[int, set[tuple[int, int]]] = {}  # tick -> (instrument index, pitch index) of its notes

    def forced_strength(self, tick: int) -> int:
        """The strength forced on a tick of the current bar (:meth:`Controls.forced_strength`)."""
        return self.controls.forced_strength(self.bar * TICKS_PER_BAR + tick)

    def required_ticks(self) -> list[int]:
        """Ticks in the current bar after the last position that must be played (:meth:`Controls.must_play`)."""
        return sorted(t for t in self.controls.must_play(self.bar) if t > self.position)

    @property
    def tick(self) -> int:
        """Grid tick of the current bar or position."""
        return self.bar * TICKS_PER_BAR + max(self.position, 0)

    def allowed_instruments(self, base: np.ndarray) -> np.ndarray:
        """Instruments a next note at this position may use: not below the last one, nor the last one at its top pitch;
        only families silent for ``SILENT_LIMIT_BARS`` bars when one of them may play."""
        last_instrument, last_pitch = self.last_note
        allowed = base.copy()
        allowed[: last_instrument + int(last_pitch >= PITCH_TOP)] = False
        silent = allowed & (self.bar - self.last_bar_played - 1 >= SILENT_LIMIT_BARS)
        return silent if silent.any() else allowed

    def allowed_types(self, instruments: np.ndarray) -> list[int]:
        if self.bar < 0:
            return [TYPE_METRICAL]
        if self.position >= 0 and self.notes_at_position < self.strength and self.allowed_instruments(instruments).any():
            return [TYPE_NOTE]
        if self.bar == self.controls.n_bars - 1 and self.can_close_bar():
            return [TYPE_METRICAL, TYPE_EOS]
        return [TYPE_METRICAL]

    def can_close_bar(self) -> bool:
        no_room = self.position == TICKS_PER_BAR - 1
        return not self.required_ticks() and (self.positions_in_bar >= self.density or no_room)

    def allowed_beats(self, vocab: int) -> np.ndarray:
        allowed = np.zeros(vocab, dtype=bool)
        required = self.required_ticks()
        missing = self.density - self.positions_in_bar
        if self.bar >= 0 and (missing > 0 or required):
            if missing <= len(required):  # only the forced beats are left to play
                allowed[to_index(BEAT, required[0])] = True
            else:  # leave room for the positions still missing
                last = min(required[0] if required else TICKS_PER_BAR - 1, TICKS_PER_BAR - missing)
                allowed[to_index(BEAT, self.position + 1) : to_index(BEAT, last + 1)] = True
        if self.bar < 0 or self.can_close_bar() or not allowed.any():
            allowed[BEAT_BAR] = True
        return allowed

    def is_last_bar_closed(self, beat: int) -> bool:
        return beat == BEAT_BAR and self.bar == self.controls.n_bars - 1

    def advance(self, row: np.ndarray) -> None:
        if row[TYPE] == TYPE_METRICAL and row[BEAT] == BEAT_BAR:
            self.bar += 1
            self.position, self.positions_in_bar = -1, 0
            self.density = int(to_value(DENSITY, row[DENSITY]))
        elif row[TYPE] == TYPE_METRICAL:
            self.position = int(to_value(BEAT, row[BEAT]))
            self.positions_in_bar += 1
            self.strength = int(to_value(STRENGTH, row[STRENGTH]))
            self.notes_at_position, self.last_note = 0, (0, -1)
        elif row[TYPE] == TYPE_NOTE:
            self.notes_at_position += 1
            self.last_note = (int(row[INSTRUMENT]), int(row[PITCH]))
            self.last_bar_played[int(row[INSTRUMENT])] = self.bar
            self.played.setdefault(self.tick, set()).add(self.last_note)

    def echo_onsets(self, vocab: int) -> np.ndarray:
        """Bool (vocab,) over the beat field: positions of the current bar whose echo tick had notes."""
        marked = np.zeros(vocab, bool)
        first = self.bar * TICKS_PER_BAR
        for position in range(TICKS_PER_BAR):
            marked[to_index(BEAT, position)] = self.controls.echo_of(first + position) in self.played
        return marked

    def echo_notes(self) -> set[tuple[int, int]]:
        """(instrument index, pitch index) of the notes on the current position's echo tick."""
        return self.played.get(self.controls.echo_of(self.tick), set())


def mask_from(size: int, first: int) -> np.ndarray:
    """Mask allowing indices first..size-1."""
    allowed = np.zeros(size, dtype=bool)
    allowed[first:] = True
    return allowed


