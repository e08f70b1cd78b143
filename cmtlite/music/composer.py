"""The composer: the model's bars made into a piece with a groove that holds, material that returns and an ending.

The sampler (:mod:`cmtlite.music.sampler`) writes every bar under the
picture's controls and the plan; :func:`compose_score` then keeps and
repeats what a composer would (the parts' rules are in :mod:`cmtlite.music.parts`):

1. **A section's first time** (sections are the plan's phrases,
   :func:`~cmtlite.music.plan.shot_sections`): the drums play the
   section's groove (its medoid bar) in every bar; piano and guitar play
   their figure (their medoid bar in the section, in a part that plays in at
   least a quarter of the bars) replayed over each bar's chords, except in
   the last bar of every 4-bar phrase, which keeps the model's own bar: a
   phrase (a a a b) is answered by its varied repeat (a a a c). The bass
   plays on the groove's kicks and at every chord change. The roles: the
   lead writes the tune (:mod:`cmtlite.music.lead`: a motif stated,
   sequenced and answered, phrase ends every 4 bars); the piano comps below
   it; the strings hold pads (:func:`~cmtlite.music.parts.pad_bar`); the
   guitar comps in its range with at least four notes a bar, or rests
   (:func:`~cmtlite.music.parts.guitar_bar`).
2. **A return** (a label heard before) replays its first section bar for
   bar (cycled when longer), re-voiced onto its own chords. ``variation``
   (0..1, seeded) varies it: a piano or guitar bar is the model's own bar of
   the return with probability ``variation / 2``, and each other note of the
   piano, guitar and lead moves to a neighbouring chord tone with probability
   ``variation / 4``; the fill changes with probability ``variation``. 0 replays literally.
3. **Form**: a crash and a kick open every section after the first; the
   bar before a section change ends on a fill (:data:`~cmtlite.music.parts.FILLS`) and its bass
   steps into the next section's root; a cut inside a section gets a crash
   only when none sounded in the ``CRASH_GAP_BARS`` bars before it.
4. **The picture**: each bar's onset ticks are fitted to its density (light
   percussion first, then comp onsets, are added or removed; hit ticks,
   forced beats, the downbeat, crashes and fills are never removed), every
   hit tick gets an onset (a kick, or a chord tone where no drums play), and
   a forced beat or hit sounds at least its strength in notes (a comp part
   adds chord tones, or the kit an accent); a weak beat takes nothing away.
5. **The end**: from the plan's final tonic (:func:`~cmtlite.music.plan.final_tick`:
   the last bar line with at least two beats before the video's end, else
   the last half bar that leaves two) every tonal part holds the tonic chord
   to the end, over a kick and a crash.

Same input and seed give the same notes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from cmtlite.constants import DEFAULT_VARIATION, TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.controls import Section
from cmtlite.errors import ConfigError
from cmtlite.music.grammar import Controls
from cmtlite.music.lead import lead_section
from cmtlite.music.parts import (
    BUSY_FILL_DENSITY,
    CRASH,
    FILLS,
    GUITAR_HIGH,
    GUITAR_LOW,
    KICK,
    LIGHT_PERCUSSION,
    PAD_HIGH,
    PAD_LOW,
    approach_note,
    at_bar,
    bar_rel,
    bass_line,
    bass_roles,
    below,
    drum_pattern,
    family_rows,
    guitar_bar,
    medoid,
    nearest_pitch,
    pad_bar,
    revoice,
    with_fill,
)
from cmtlite.music.plan import ENDING_MIN_TICKS, PHRASE_BARS, final_tick
from cmtlite.tokens.chords import chord_pitch_classes
from cmtlite.tokens.codec import DURATION_COL, FAMILY_COL, PITCH_COL, START_COL, Score, make_score
from cmtlite.tokens.vocab import BASS, DRUMS, FAMILIES, GUITAR, KICKS, LEAD, MAX_DURATION_TICKS, PIANO, STRINGS

CRASH_GAP_BARS = 4  # a cut inside a section gets a crash only after this many bars without one
MIN_FIGURE_SHARE = 0.25  # a part that plays in fewer of a section's bars keeps the model's bars as they are
# Registers (MIDI pitch near which a part's final chord is voiced) when the part has not played.
REGISTERS = {"piano": 60, "guitar": 55, "bass": 40, "strings": 64, "lead": 72}
ACCENT_DRUMS = (KICK, 38, 42, 46, CRASH)  # what the kit adds to make a tick stronger where no comp part plays
STAB_VOICES = 4  # at most this many chord tones a comp part adds on a strong tick
PART_RANGES = {GUITAR: (GUITAR_LOW, GUITAR_HIGH), STRINGS: (PAD_LOW, PAD_HIGH)}  # pitch ranges the rules keep parts in
HAT_ORDER = (2, 6, 10, 14, 4, 8, 12, 0, 1, 3, 5, 7, 9, 11, 13, 15)  # where density adds onsets first: 8ths, then 16ths


@dataclass(frozen=True)
class Form:
    """What the composer needs besides the sampler's controls.

    Attributes
    ----------
    sections : tuple of Section
        The plan's sections (start bar and label), the first at bar 0.
    cut_ticks : np.ndarray [shape=(C,), dtype=int]
        Grid ticks of the scene cuts.
    end_tick : int or None
        Grid tick (fractional allowed) where the video ends; None: the end of the last bar.
    variation : float
        How much a return differs from its first time, 0..1 (module doc).
    seed : int
        Seed of the variation.
    """

    sections: tuple[Section, ...]
    cut_ticks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    end_tick: float | None = None
    variation: float = DEFAULT_VARIATION
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.variation <= 1.0:
            msg = f"variation must be in 0..1 (got {self.variation:g})"
            raise ConfigError(msg)
        if not self.sections or self.sections[0].start_bar != 0:
            msg = "the form needs sections, the first starting at bar 0"
            raise ConfigError(msg)


@dataclass(frozen=True)
class _Unit:
    """Bars ``start .. end - 1`` of one section, its label and its index among the sections."""

    start: int
    end: int
    label: str
    index: int


def _units(sections: tuple[Section, ...], n_bars: int) -> list[_Unit]:
    bounds = [s.start_bar for s in sections if s.start_bar < n_bars] + [n_bars]
    return [_Unit(a, b, s.label, i) for i, (s, a, b) in enumerate(zip(sections, bounds[:-1], bounds[1:], strict=False)) if b > a]


class _Writer:
    """The piece being composed: bar-relative notes per bar, from the model's ``raw`` score."""

    def __init__(self, raw: Score, controls: Controls, form: Form) -> None:
        self.raw, self.controls, self.form = raw, controls, form
        self.n_bars = controls.n_bars
        self.chords = np.asarray(controls.chords if len(controls.chords) else raw.chords, np.int64)
        self.scale = controls.scale
        self.families = sorted(FAMILIES.index(name) for name in controls.instruments)
        self.tonal = [f for f in self.families if f not in (DRUMS, BASS)]
        self.tonic = (chord_pitch_classes(int(self.chords[-1])) or (0,))[0]  # the plan ends on the tonic
        self.bars: dict[int, np.ndarray] = {}
        self.fills: dict[int, set[int]] = {}  # bar -> ticks (rel) of its fill

    def chords_of(self, bar: int) -> np.ndarray:
        return self.chords[bar * TICKS_PER_BAR : (bar + 1) * TICKS_PER_BAR]

    def raw_bar(self, family: int, bar: int) -> np.ndarray:
        return bar_rel(family_rows(self.raw.notes, family), bar)

    def write(self, unit: _Unit) -> None:
        """A section's first time (module doc, 1)."""
        bars = range(unit.start, unit.end)
        parts: dict[int, list[np.ndarray]] = {b: [] for b in bars}
        kicks_rel, groove_bar = np.zeros(0, np.int64), -1
        if DRUMS in self.families:
            index, pattern = drum_pattern([self.raw_bar(DRUMS, b) for b in bars])
            if index >= 0:
                groove_bar = unit.start + index
                kicks_rel = np.unique(pattern[np.isin(pattern[:, PITCH_COL], KICKS), START_COL])
                for b in bars:
                    parts[b].append(pattern)
        comp = [f for f in self.tonal if f not in (STRINGS, LEAD)] + ([BASS] if BASS in self.families and not len(kicks_rel) else [])
        figures = {family: self._figure(family, unit) for family in comp}
        if GUITAR in figures:
            figures[GUITAR] = self._guitar(figures[GUITAR], figures.get(PIANO, {}))
        if LEAD in self.families:
            figures[LEAD] = self._lead(unit)
            ceiling = int(min((n[:, PITCH_COL].min() for n in figures[LEAD].values() if len(n)), default=127))  # the tune's lowest
            if PIANO in figures:
                figures[PIANO] = {b: below(notes, ceiling) for b, notes in figures[PIANO].items()}
        if STRINGS in self.families:
            figures[STRINGS] = self._pads(unit)
        for family_bars in figures.values():
            for b, notes in family_bars.items():
                parts[b].append(notes)
        if BASS in self.families and len(kicks_rel):
            source = self.raw_bar(BASS, groove_bar)
            register = int(np.median(source[:, PITCH_COL])) if len(source) else _register(self.raw.notes, BASS)
            roles = bass_roles(kicks_rel, source, self.chords_of(groove_bar))
            for b in bars:
                chords = self.chords_of(b)
                changes = np.flatnonzero(np.diff(chords)) + 1
                parts[b].append(bass_line(np.union1d(kicks_rel, changes), roles, chords, register=register))
        for b in bars:
            self.bars[b] = _stack(parts[b])

    def _lead(self, unit: _Unit) -> dict[int, np.ndarray]:
        """The tune of a section's first time (:func:`~cmtlite.music.lead.lead_section`), after the line before it."""
        earlier = [self.bars[b] for b in sorted(self.bars) if b < unit.start]
        line = [n[n[:, FAMILY_COL] == LEAD] for n in earlier if (n[:, FAMILY_COL] == LEAD).any()]
        previous = int(line[-1][np.argmax(line[-1][:, START_COL]), PITCH_COL]) if line else None
        bars = range(unit.start, unit.end)
        tune = lead_section([self.raw_bar(LEAD, b) for b in bars], [self.chords_of(b) for b in bars], self.scale,
                            tonic=self.tonic, previous=previous, seed=self.form.seed + unit.start)
        return dict(zip(bars, tune, strict=True))

    def _pads(self, unit: _Unit) -> dict[int, np.ndarray]:
        """The strings' pads through a section (:func:`~cmtlite.music.parts.pad_bar`), around the model's strings register."""
        centre, voicing, out = _register(self.raw.notes, STRINGS), [], {}
        for b in range(unit.start, unit.end):
            out[b], voicing = pad_bar(self.chords_of(b), voicing, centre=int(np.clip(centre, 57, 72)))
        return out

    def _guitar(self, figure: dict[int, np.ndarray], piano: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """The guitar comps (:func:`~cmtlite.music.parts.guitar_bar`) where the model's guitar plays a figure, else rests."""
        if all(len(notes) == 0 for notes in figure.values()) or sum(len(n) > 0 for n in figure.values()) < MIN_FIGURE_SHARE * len(figure):
            return {b: np.zeros((0, 4), np.int64) for b in figure}
        empty = np.zeros((0, 4), np.int64)
        return {b: guitar_bar(notes, self.chords_of(b), piano.get(b, empty)) for b, notes in figure.items()}

    def _figure(self, family: int, unit: _Unit) -> dict[int, np.ndarray]:
        """A tonal part's bars in a section's first time: its figure re-voiced, the model's own bar at each phrase's end."""
        raw = {b: self.raw_bar(family, b) for b in range(unit.start, unit.end)}
        playing = [b for b, notes in raw.items() if len(notes)]
        if len(playing) < MIN_FIGURE_SHARE * len(raw):
            return raw
        figure_bar = playing[medoid([{(int(t), int(p)) for p, t in raw[b][:, [PITCH_COL, START_COL]].tolist()} for b in playing])]
        figure = raw[figure_bar]
        out = {}
        for b in raw:
            phrase_end = (b - unit.start) % PHRASE_BARS == PHRASE_BARS - 1
            if phrase_end and len(raw[b]):
                out[b] = raw[b]
            else:
                out[b] = revoice(figure, self.chords_of(figure_bar), self.chords_of(b), self.scale)
        return out

    def replay(self, unit: _Unit, first: _Unit, rng: np.random.Generator, *, variation: float | None = None) -> None:
        """A return: its first time bar for bar, re-voiced onto its chords, varied by ``variation`` (None: the form's; module doc, 2)."""
        length = first.end - first.start
        variation = self.form.variation if variation is None else variation
        for b in range(unit.start, unit.end):
            source = first.start + (b - unit.start) % length
            notes = self.bars[source]
            rows = []
            for family in self.families:
                part = notes[notes[:, FAMILY_COL] == family]
                if family == DRUMS:
                    rows.append(part)
                    continue
                own = self.raw_bar(family, b)
                if family not in (BASS, LEAD, STRINGS) and len(own) and rng.random() < variation / 2:
                    rows.append(own)
                    continue
                part = revoice(part, self.chords_of(source), self.chords_of(b), self.scale)
                rows.append(_neighbour_tones(part, self.chords_of(b), rng, variation / 4) if family not in (BASS, STRINGS) else part)
            self.bars[b] = _stack(rows)

    def decorate(self, units: list[_Unit], section_starts: list[int], rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
        """Crashes at section starts and some cuts, fills and bass approaches before changes (module doc, 3) in the composed
        bars; ``section_starts`` are every section's first bar. Returns (bar, added notes, rel) pairs."""
        added: list[tuple[int, np.ndarray]] = []
        crash_ticks = [b * TICKS_PER_BAR for b in section_starts if b > 0]
        drums = DRUMS in self.families
        for i, unit in enumerate(units):
            if drums and unit.start > 0:
                added.append((unit.start, np.array([[DRUMS, CRASH, 0, TICKS_PER_BEAT], [DRUMS, KICK, 0, 1]], np.int64)))
            if unit.end >= self.n_bars:
                continue
            last = unit.end - 1
            if drums:
                template = zlib.crc32(unit.label.encode()) % (len(FILLS) - 1)
                if i != _first_index(units, unit.label) and rng.random() < self.form.variation:
                    template = (template + 1) % (len(FILLS) - 1)
                if self._density(last) >= BUSY_FILL_DENSITY:
                    template = len(FILLS) - 1
                notes = self.bars[last]
                drums_rel = with_fill(notes[notes[:, FAMILY_COL] == DRUMS], FILLS[template])
                self.bars[last] = _stack([notes[notes[:, FAMILY_COL] != DRUMS], drums_rel])
                self.fills[last] = {tick for tick, _ in FILLS[template]}
            if BASS in self.families:
                self.bars[last] = self._approach(self.bars[last], int(self.chords[unit.end * TICKS_PER_BAR]))
        if drums:
            for tick in np.unique(np.asarray(self.form.cut_ticks, np.int64)).tolist():
                bar = tick // TICKS_PER_BAR
                if bar in self.bars and all(abs(tick - c) >= CRASH_GAP_BARS * TICKS_PER_BAR for c in crash_ticks):
                    added.append((bar, np.array([[DRUMS, CRASH, tick - bar * TICKS_PER_BAR, TICKS_PER_BEAT]], np.int64)))
                    crash_ticks.append(tick)
        return added

    def _approach(self, notes: np.ndarray, next_chord: int) -> np.ndarray:
        """The bar's last bass note, when it starts on its last beat, becomes a step into the next chord's root; else one is added."""
        tones = chord_pitch_classes(next_chord)
        bass = notes[notes[:, FAMILY_COL] == BASS]
        if not tones or not len(bass):
            return notes
        last = int(np.argmax(bass[:, START_COL]))
        pitch = approach_note(int(bass[last, PITCH_COL]), tones[0], self.scale)
        if bass[last, START_COL] >= TICKS_PER_BAR - TICKS_PER_BEAT:
            bass[last, PITCH_COL] = pitch
        else:
            bass[last, DURATION_COL] = min(bass[last, DURATION_COL], TICKS_PER_BAR - TICKS_PER_BEAT // 2 - bass[last, START_COL])
            bass = np.concatenate([bass, [[BASS, pitch, TICKS_PER_BAR - TICKS_PER_BEAT // 2, TICKS_PER_BEAT // 2]]])
        return _stack([notes[notes[:, FAMILY_COL] != BASS], bass])

    def _density(self, bar: int) -> int:
        return int(self.controls.bar_density[bar])


def _first_index(units: list[_Unit], label: str) -> int:
    return next(i for i, u in enumerate(units) if u.label == label)


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    parts = [np.asarray(p, np.int64).reshape(-1, 4) for p in parts]
    return np.concatenate(parts) if parts else np.zeros((0, 4), np.int64)


def _register(notes: np.ndarray, family: int) -> int:
    rows = family_rows(notes, family)
    return int(np.median(rows[:, PITCH_COL])) if len(rows) else REGISTERS[FAMILIES[family]]


def _neighbour_tones(part: np.ndarray, chords: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """``part`` with each chord-tone note moved, with ``probability``, to the chord tone above or below it."""
    out = part.copy()
    for row in out:
        tones = chord_pitch_classes(int(chords[int(row[START_COL])]))
        if tones and row[PITCH_COL] % 12 in tones and rng.random() < probability:
            step = 1 if rng.random() < 0.5 else -1
            target = tones[(tones.index(row[PITCH_COL] % 12) + step) % len(tones)]
            row[PITCH_COL] = nearest_pitch(target, int(row[PITCH_COL]) + 3 * step)
    return out


def _fit_density(notes: np.ndarray, density: int, protected: set[int], families: list[int]) -> np.ndarray:
    """A bar's notes (rel) with ``density`` distinct onset ticks where the rules allow (module doc, 4)."""
    ticks = sorted({int(t) for t in notes[:, START_COL].tolist()})
    if len(ticks) > density:
        removable = [t for t in ticks if t not in protected]
        removable.sort(key=lambda t: (_removal_rank(notes[notes[:, START_COL] == t]), -(t % 2), -(t % 4 != 0), -t))
        drop = set(removable[: len(ticks) - density])
        return notes[~np.isin(notes[:, START_COL], list(drop))]
    missing = density - len(ticks)
    free = [t for t in HAT_ORDER if t not in ticks][:missing]
    if not free:
        return notes
    if DRUMS in families:
        hats = notes[(notes[:, FAMILY_COL] == DRUMS) & np.isin(notes[:, PITCH_COL], LIGHT_PERCUSSION)]
        pitch = int(np.bincount(hats[:, PITCH_COL]).argmax()) if len(hats) else 42
        added = [[DRUMS, pitch, t, 1] for t in free]
    else:
        tonal = notes[notes[:, FAMILY_COL] != DRUMS]
        if not len(tonal):
            return notes
        top = tonal[np.argmax(tonal[:, PITCH_COL])]
        added = [[int(top[FAMILY_COL]), int(top[PITCH_COL]), t, 1] for t in free]
    return _stack([notes, added])


def _removal_rank(at_tick: np.ndarray) -> int:
    """0: only light percussion; 1: no drums or bass (comp); 2: bass without a kick; 3: anything else."""
    drums = at_tick[at_tick[:, FAMILY_COL] == DRUMS]
    if len(drums) == len(at_tick) and np.isin(drums[:, PITCH_COL], LIGHT_PERCUSSION).all():
        return 0
    if not len(drums) and not (at_tick[:, FAMILY_COL] == BASS).any():
        return 1
    if not np.isin(drums[:, PITCH_COL], KICKS).any() and (at_tick[:, FAMILY_COL] == BASS).any():
        return 2
    return 3


def _forced_strengths(controls: Controls, bars: list[int]) -> list[tuple[int, int]]:
    """(grid tick, notes it must sound) of the forced beats and hits in ``bars`` (:meth:`Controls.forced_strength`)."""
    ticks = sorted(b * TICKS_PER_BAR + t for b in bars for t in controls.must_play(b))
    return [(tick, level) for tick in ticks if (level := controls.forced_strength(tick)) > 0]


def _fit_strength(notes: np.ndarray, tick: int, level: int, chord: int, families: list[int]) -> np.ndarray:
    """``notes`` (absolute) with at least ``level`` notes starting on ``tick`` where the rules allow: a comp part adds a
    stab of up to ``STAB_VOICES`` chord tones around its register; where none plays, the kit adds accents
    (``ACCENT_DRUMS``). A weak beat takes nothing away: the groove and the pads hold through it."""
    at = notes[:, START_COL] == tick
    missing = level - int(at.sum())
    comp = [f for f in families if f not in (DRUMS, BASS, LEAD)]
    tones = chord_pitch_classes(chord)
    added = []
    if missing > 0 and comp and tones:
        family = max(comp, key=lambda f: int((notes[:, FAMILY_COL] == f).sum()))
        low, high = PART_RANGES.get(family, (0, 127))
        register = _register(notes, family)
        sounding = set(notes[at & (notes[:, FAMILY_COL] == family), PITCH_COL].tolist())
        voicing = sorted({nearest_pitch(pc, register + 4 * k, low=low, high=high) for k in range(STAB_VOICES) for pc in tones})
        stab = [p for p in voicing if p not in sounding and abs(p - register) <= 12][: min(missing, STAB_VOICES)]
        added += [[family, p, tick, TICKS_PER_BEAT // 2] for p in stab]
        missing -= len(stab)
    if missing > 0 and DRUMS in families and not (comp and tones):  # the kit accents only where no comp part can
        sounding = set(notes[at & (notes[:, FAMILY_COL] == DRUMS), PITCH_COL].tolist())
        added += [[DRUMS, p, tick, 1] for p in ACCENT_DRUMS if p not in sounding][:missing]
    return _stack([notes, added]) if added else notes


def _hit_note(notes: np.ndarray, tick_rel: int, chords: np.ndarray, families: list[int]) -> np.ndarray:
    """One note that makes ``tick_rel`` an onset: a kick, else the lowest tonal part's chord root near its register."""
    if DRUMS in families:
        return np.array([[DRUMS, KICK, tick_rel, 1]], np.int64)
    family = min(f for f in families if f != DRUMS)
    tones = chord_pitch_classes(int(chords[tick_rel])) or (0,)
    pitch = nearest_pitch(tones[0], _register(notes, family))
    return np.array([[family, pitch, tick_rel, TICKS_PER_BEAT]], np.int64)


def _ending(notes: np.ndarray, chords: np.ndarray, families: list[int], *, final_tick: int, n_ticks: int) -> np.ndarray:
    """``notes`` (absolute ticks) cut at ``final_tick``, then the tonic held to ``n_ticks`` by every tonal part (module doc, 5)."""
    before = notes[notes[:, START_COL] < final_tick].copy()
    before[:, DURATION_COL] = np.minimum(before[:, DURATION_COL], final_tick - before[:, START_COL])
    tones = chord_pitch_classes(int(chords[-1]))
    length = int(min(max(n_ticks - final_tick, ENDING_MIN_TICKS), MAX_DURATION_TICKS))
    rows = []
    for family in families:
        if family == DRUMS:
            rows += [[DRUMS, KICK, final_tick, 1], [DRUMS, CRASH, final_tick, length]]
        elif tones:
            register = _register(notes, family)
            if family in (BASS, LEAD):  # one note: the bass's root, the tune's nearest tonic-chord tone
                last = notes[notes[:, FAMILY_COL] == family]
                near = int(last[np.argmax(last[:, START_COL]), PITCH_COL]) if family == LEAD and len(last) else register
                pitch = nearest_pitch(tones[0], near, low=28, high=52) if family == BASS else min(
                    (nearest_pitch(pc, near) for pc in tones[:3]), key=lambda p: abs(p - near))
                rows.append([family, pitch, final_tick, length])
                continue
            low, high = PART_RANGES.get(family, (0, 127))
            root = nearest_pitch(tones[0], register - 4, low=low, high=high)
            rows += [[family, nearest_pitch(pc, root + 2 + 3 * k, low=low, high=high), final_tick, length]
                     for k, pc in enumerate(tones[:3])]
    return _stack([before, rows])


def _tidy(notes: np.ndarray, n_ticks: int, *, span: tuple[int, int] | None = None) -> np.ndarray:
    """Notes inside the piece, each lasting at most until the same part plays the same pitch again, guitar and strings in
    their ranges; with ``span`` (first tick, end tick) only the notes starting in it change (the others are kept as they are)."""
    notes = notes[(notes[:, START_COL] >= 0) & (notes[:, START_COL] < n_ticks)]
    notes = notes[np.lexsort((notes[:, START_COL], notes[:, PITCH_COL], notes[:, FAMILY_COL]))].copy()
    same = (notes[1:, FAMILY_COL] == notes[:-1, FAMILY_COL]) & (notes[1:, PITCH_COL] == notes[:-1, PITCH_COL])
    gap = notes[1:, START_COL] - notes[:-1, START_COL]
    first, end = span or (0, n_ticks)
    clip = same & (gap > 0) & (notes[:-1, START_COL] >= first) & (notes[:-1, START_COL] < end)
    notes[:-1, DURATION_COL] = np.where(clip, np.minimum(notes[:-1, DURATION_COL], gap), notes[:-1, DURATION_COL])
    notes[:, DURATION_COL] = np.clip(notes[:, DURATION_COL], 1, MAX_DURATION_TICKS)
    mine = (notes[:, START_COL] >= first) & (notes[:, START_COL] < end)
    for family, (low, high) in PART_RANGES.items():  # whatever rule moved a note, guitar and strings stay in range
        rows = np.flatnonzero(mine & (notes[:, FAMILY_COL] == family))
        notes[rows, PITCH_COL] = [nearest_pitch(int(p) % 12, int(p), low=low, high=high) for p in notes[rows, PITCH_COL]]
    return notes


def compose_score(
    raw: Score, controls: Controls, form: Form, *, bars: tuple[int, int] | None = None, source: tuple[int, int] | None = None
) -> Score:
    """The piece a composer makes of the model's ``raw`` score under ``controls`` and ``form`` (module doc).

    ``bars`` (first, last; inclusive) composes only those bars, as one section
    with its own groove and figures, and keeps every note that starts outside
    them (a studio regenerate); with ``source`` (first, last) they replay
    those bars of ``raw`` instead, re-voiced onto their own chords (a linked
    regenerate: every occurrence alike); without ``bars`` the whole piece is composed.

    Raises
    ------
    ConfigError
        ``raw`` and ``controls`` disagree on the number of bars, or ``bars`` lie outside the piece.
    """
    n_bars, n_ticks = controls.n_bars, controls.n_bars * TICKS_PER_BAR
    if raw.n_bars != n_bars or bars is not None and not 0 <= bars[0] <= bars[1] < n_bars:
        msg = f"cannot compose bars {bars} of a {raw.n_bars}-bar score under controls of {n_bars} bars"
        raise ConfigError(msg)
    writer = _Writer(raw, controls, form)
    rng = np.random.default_rng([form.seed, 21])
    all_units = _units(form.sections, n_bars)
    if bars is None:
        units, kept = all_units, np.zeros((0, 4), np.int64)
        first: dict[str, _Unit] = {}
        for unit in units:
            if unit.label in first:
                writer.replay(unit, first[unit.label], rng)
            else:
                writer.write(unit)
                first[unit.label] = unit
    else:
        units = [_Unit(bars[0], bars[1] + 1, f"bars {bars[0]}-{bars[1]}", -1)]
        inside = (raw.notes[:, START_COL] >= bars[0] * TICKS_PER_BAR) & (raw.notes[:, START_COL] < (bars[1] + 1) * TICKS_PER_BAR)
        kept = raw.notes[~inside]
        if source is None:
            writer.write(units[0])
        else:
            for bar in range(source[0], source[1] + 1):
                writer.bars[bar] = bar_rel(raw.notes, bar)
            writer.replay(units[0], _Unit(source[0], source[1] + 1, units[0].label, -1), np.random.default_rng(0), variation=0.0)
            for bar in range(source[0], source[1] + 1):
                del writer.bars[bar]
    starts = [u.start for u in all_units]
    added = writer.decorate(units if bars is None else [_span_unit(units[0], starts, n_bars)], starts, rng)
    body = []
    for b in sorted(writer.bars):
        extra = [notes for bar, notes in added if bar == b]
        notes = _stack([writer.bars[b], *extra])
        if controls.bar_density[b] >= 0:
            must = controls.must_play(b)
            keep = must | {0} | {int(t) for t in _stack(extra)[:, START_COL].tolist()} | writer.fills.get(b, set())
            keep |= {int(t) for t in notes[notes[:, FAMILY_COL] == LEAD, START_COL].tolist()}  # hits never break the tune
            missing = len(must - {int(t) for t in notes[:, START_COL].tolist()})  # onsets the hits add afterwards
            notes = _fit_density(notes, max(int(controls.bar_density[b]) - missing, 0), keep, writer.families)
        body.append(at_bar(notes, b))
    notes = _stack([kept, *body])
    chords = writer.chords.copy()
    if bars is None or bars[1] == n_bars - 1:
        start = final_tick(n_bars, form.end_tick) if bars is None else max(final_tick(n_bars, form.end_tick), bars[0] * TICKS_PER_BAR)
        notes = _ending(notes, chords, writer.families, final_tick=start, n_ticks=n_ticks)
        chords[start:] = chords[-1]
    onsets = set(notes[:, START_COL].tolist())
    for b in sorted(writer.bars):
        for tick in sorted(controls.must_play(b)):
            if b * TICKS_PER_BAR + tick not in onsets:
                notes = _stack([notes, at_bar(_hit_note(raw.notes, tick, writer.chords_of(b), writer.families), b)])
    for tick, level in _forced_strengths(controls, sorted(writer.bars)):
        notes = _fit_strength(notes, tick, level, int(chords[tick]), writer.families)
    span = None if bars is None else (bars[0] * TICKS_PER_BAR, (bars[1] + 1) * TICKS_PER_BAR)
    score, _ = make_score(_tidy(notes, n_ticks, span=span), tempo_bpm=raw.tempo_bpm, n_bars=n_bars, chords=chords)
    return score


def _span_unit(span: _Unit, section_starts: list[int], n_bars: int) -> _Unit:
    """A regenerated span as the form sees it: it opens a section only when it starts one (else start -1: no crash), and
    precedes a section change only when the bar after it starts one (else end ``n_bars``: no fill)."""
    return _Unit(span.start if span.start in section_starts else -1, span.end if span.end in section_starts else n_bars, span.label, -1)





