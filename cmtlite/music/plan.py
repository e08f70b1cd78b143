"""The music plan: a key from the picture's mood, sections from its shots, chords from POP909's progressions.

Rule-based and seeded, written into ``controls.json`` (``mood``, ``key``,
``sections``, ``chords``) where a person may edit it.

*Mood* (:func:`picture_mood`). Valdez & Mehrabian (1994) found pleasure
rising with brightness and saturation (P = 0.69 B + 0.22 S); here B is the
frames' mean luma and S their mean chroma (distance of U, V from grey,
relative to ``VIVID_CHROMA``, a vivid natural colour's; capped at 1), both 0..1, and valence = (0.69 B + 0.22 S) / 0.91.
Arousal is the picture's motion: the median speed of the frames relative
to ``LIVELY_SPEED`` (frame diagonals per second), capped at 1.

*Key* (:func:`mood_key`): minor when valence < ``MINOR_BELOW_VALENCE``, else
major; the tonic moves round the circle of fifths with arousal (calm F / D
minor ... lively E / B minor): the tonic only transposes, so any is as good.

*Sections* (:func:`shot_sections`) are phrases of ``PHRASE_BARS`` (4) or
``2 * PHRASE_BARS`` (8) bars from bar 0, not shots: a shot of at least
``LONG_SHOT_BARS`` bars starts a section at the nearest phrase boundary (a
4-bar section when it starts 3 to 6 bars after the current section's start,
else 8 bars); a cut inside a section stays a hit point. The last section
takes what is left (a remainder under ``MIN_SECTION_BARS`` joins it). A
section looks like the shot that covers most of its bars (the median of
that shot's frames' colour layouts, 4 x 8 cells of Y, U, V); a section whose
look is within ``SAME_SHOT_MAX_DIFF`` (mean absolute difference, 0..255) of
an earlier section's has that section's look. Shots A B A' B' give sections A
B A B; a long shot that fills several sections in a row alternates a theme
and its answer (A B A B), as a song does. A cue scores ``MAX_THEMES``
looks: a section that would open a third look takes the look of the earlier
section (not the one just before it) that is nearest, so a montage of many
shots brings its themes back.

*Chords* (:func:`plan_chords`): every label gets a progression from the
library (:mod:`cmtlite.music.progressions`) of its mode, drawn by the seed in
proportion to its count (a new label avoids its predecessor's progression),
played from its section's first bar and repeated to the section's end; a
label whose first section is shorter than its progression cycles the
progression's first 1, 2 or 4 bars (:func:`phrase_bars`, :func:`label_cycles`),
so even short shots repeat a phrase and a return repeats its chords; the piece
ends on a cadence (V7 - I, or i in minor), the tonic from :func:`final_tick`.

*Echoes* (:func:`echo_ticks`): a returning section's bars echo its first
occurrence's, and inside a section a bar echoes the bar a chord cycle (at
most 4 bars) before; the sampler leans towards the onsets, instruments and pitches heard
there (:mod:`cmtlite.music.sampler`), so material returns varied, under the
picture's own density and hits.
"""

from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass

import numpy as np

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.controls import ChordChange, Mood, Section, VideoControls
from cmtlite.music.progressions import SLOTS_PER_BAR, Progression, degree_chord, load_progressions
from cmtlite.tokens.chords import MODES, NO_CHORD, Key, chord_label, chord_value
from cmtlite.tokens.midi import CHORD_MARKER, SECTION_MARKER

MINOR_BELOW_VALENCE = 0.4
LIVELY_SPEED = 0.25  # frame diagonals per second: motion at or above this is arousal 1
VIVID_CHROMA = 50.0  # |(U, V) - 128| (BT.601) that counts as fully saturated; pure red is 118, a grey 0
MAJOR_TONICS = (5, 0, 7, 2, 9, 4)  # F C G D A E: calm to lively
MINOR_TONICS = (2, 9, 4, 11)  # D A E B
LIVELY_AROUSAL = 0.5  # arousal from which the tune takes a livelier instrument
# The lead's GM program by mood: soft, breathy timbres for calm pictures, reedier or brassier ones for lively ones.
LEAD_PROGRAMS = {("dark", "calm"): 71, ("dark", "lively"): 68, ("bright", "calm"): 73, ("bright", "lively"): 56}  # clarinet, oboe,
# flute, trumpet
MIN_SECTION_BARS = 2  # a remainder shorter than this joins the last section
PHRASE_BARS = 4  # sections are 4 or 8 bars (the last may be shorter)
LONG_SHOT_BARS = 4  # a shot at least this long starts a section (at the nearest phrase boundary)
MAX_THEMES = 2  # distinct looks a cue scores; a further look returns to the theme of the nearest earlier one
SAME_SHOT_MAX_DIFF = 14.0
CADENCE_MIN_BARS = 4  # pieces this long end on V7 - I; shorter ones just on I
ENDING_MIN_TICKS = 2 * TICKS_PER_BEAT  # the final tonic sounds at least two beats before the video ends
HALF_BAR_TICKS = TICKS_PER_BAR // SLOTS_PER_BAR  # the plan's chords change on half bars
MAX_CYCLE_BARS = 4  # inside a long section, a bar echoes the bar at most this far before it


@dataclass(frozen=True)
class Plan:
    """What the music follows besides density and strength: ``key``, ``sections`` and ``chords``."""

    key: Key
    sections: tuple[Section, ...]
    chords: tuple[ChordChange, ...]


def picture_mood(colour: np.ndarray, speed: np.ndarray) -> Mood:
    """The mood (module doc) of frames with colour layouts ``colour`` (N, rows, cols, 3: Y, U, V) and motion ``speed`` (N,)."""
    colour = np.asarray(colour, float)
    if colour.size == 0:
        return Mood(valence=0.5, arousal=0.5)
    brightness = float(np.clip((colour[..., 0].mean() - 16.0) / 219.0, 0.0, 1.0))
    chroma = np.hypot(colour[..., 1] - 128.0, colour[..., 2] - 128.0)
    saturation = float(np.clip(chroma.mean() / VIVID_CHROMA, 0.0, 1.0))
    valence = (0.69 * brightness + 0.22 * saturation) / 0.91
    arousal = float(np.clip(np.median(speed) / LIVELY_SPEED, 0.0, 1.0)) if len(speed) else 0.5
    return Mood(valence=valence, arousal=arousal, brightness=brightness, saturation=saturation)


def lead_program(mood: Mood | None) -> int:
    """The GM program of the tune for a mood (``LEAD_PROGRAMS``: dark or bright by valence, calm or lively by arousal)."""
    if mood is None:
        return LEAD_PROGRAMS[("bright", "calm")]
    light = "dark" if mood.valence < MINOR_BELOW_VALENCE else "bright"
    return LEAD_PROGRAMS[(light, "lively" if mood.arousal >= LIVELY_AROUSAL else "calm")]


def mood_key(mood: Mood) -> Key:
    """The key the mood calls for (module doc)."""
    tonics = MINOR_TONICS if mood.valence < MINOR_BELOW_VALENCE else MAJOR_TONICS
    tonic = tonics[min(int(mood.arousal * len(tonics)), len(tonics) - 1)]
    return Key(tonic, "min" if tonics is MINOR_TONICS else "maj")


def section_labels(n: int) -> list[str]:
    """The first ``n`` labels: A..Z, then AA, AB, ..."""
    letters = string.ascii_uppercase
    return [letters[i] if i < len(letters) else letters[i // len(letters) - 1] + letters[i % len(letters)] for i in range(n)]


def phrase_starts(shot_starts: list[int], n_bars: int) -> list[int]:
    """First bars of the phrase sections of ``n_bars`` bars whose long shots start at ``shot_starts`` (module doc)."""
    starts, current = [], 0
    while current < n_bars:
        starts.append(current)
        upcoming = [s for s in shot_starts if current + PHRASE_BARS // 2 < s <= current + 2 * PHRASE_BARS]  # nearer: it starts here
        length = PHRASE_BARS if upcoming and upcoming[0] - current <= PHRASE_BARS + PHRASE_BARS // 2 else 2 * PHRASE_BARS
        if n_bars - current - length < MIN_SECTION_BARS:
            break
        current += length
    return starts


def shot_sections(cut_bars: np.ndarray, looks: np.ndarray, n_bars: int) -> tuple[Section, ...]:
    """Phrase sections of a piece of ``n_bars`` bars whose shots start at bars ``cut_bars`` (S - 1,) and look like ``looks`` (S, D).

    ``looks[0]`` is the first shot's (before the first cut). See the module doc.
    """
    bounds = np.concatenate([[0], np.clip(np.asarray(cut_bars, int), 0, n_bars), [n_bars]])
    lengths = np.diff(bounds)
    long_starts = [int(s) for s, n in zip(bounds[:-1], lengths, strict=True) if n >= LONG_SHOT_BARS and s > 0]
    starts = phrase_starts(long_starts, n_bars)
    ends = starts[1:] + [n_bars]
    shot_of_bar = np.searchsorted(bounds[1:], np.arange(n_bars), side="right")
    looks = [np.asarray(look, float) for look in looks]
    section_looks = [looks[int(np.bincount(shot_of_bar[a:b]).argmax())] for a, b in zip(starts, ends, strict=True)]
    clusters: list[int] = []
    for i, look in enumerate(section_looks):
        distance = [np.abs(look - section_looks[j]).mean() for j in range(i)]
        j = int(np.argmin(distance)) if distance else -1
        if j >= 0 and distance[j] <= SAME_SHOT_MAX_DIFF:
            clusters.append(clusters[j])
        elif len(set(clusters)) < MAX_THEMES:
            clusters.append(max(clusters, default=-1) + 1)
        else:  # a cue's material is limited: the look of the nearest earlier section, not the one just before
            earlier = list(range(i - 1)) or [i - 1]
            clusters.append(clusters[min(earlier, key=lambda k: distance[k])])
    themes: list[tuple[int, int]] = []
    run = 0  # a run of sections with one look alternates its theme (even) and its answer (odd)
    for i, cluster in enumerate(clusters):
        run = run + 1 if i and cluster == clusters[i - 1] else 0
        themes.append((cluster, run % 2))
    names = {theme: label for theme, label in zip(dict.fromkeys(themes), section_labels(len(set(themes))), strict=True)}
    return tuple(Section(start_bar=s, label=names[theme]) for s, theme in zip(starts, themes, strict=True))


def song_sections(n_bars: int, *, phrase_bars: int = 8) -> tuple[Section, ...]:
    """Sections of a piece with no picture: ``phrase_bars``-bar phrases alternating A B A B ..."""
    return tuple(Section(start_bar=s, label="AB"[(s // phrase_bars) % 2]) for s in range(0, n_bars, phrase_bars))


def _draw(progressions: list[Progression], rng: np.random.Generator, avoid: Progression | None) -> Progression:
    choices = [p for p in progressions if p != avoid] or progressions
    counts = np.array([p.count for p in choices], float)
    return choices[int(rng.choice(len(choices), p=counts / counts.sum()))]


def phrase_bars(section_bars: int) -> int:
    """Bars of the progression a section of ``section_bars`` bars cycles: the largest power of two that fits (1..8)."""
    return 1 << min(max(section_bars, 1).bit_length() - 1, 3)


def label_cycles(sections: tuple[Section, ...], n_bars: int) -> dict[str, int]:
    """Bars of progression each label cycles: :func:`phrase_bars` of its first section's length (a return repeats it)."""
    bounds = [s.start_bar for s in sections] + [n_bars]
    cycles: dict[str, int] = {}
    for section, end in zip(sections, bounds[1:], strict=True):
        cycles.setdefault(section.label, phrase_bars(end - section.start_bar))
    return cycles


def final_tick(n_bars: int, end_tick: float | None = None) -> int:
    """Grid tick where the final tonic starts: the last bar line when the piece (``end_tick``; None: its last bar) lasts at
    least two beats past it, else the last half bar that leaves two beats before the end."""
    last_bar = (n_bars - 1) * TICKS_PER_BAR
    end = n_bars * TICKS_PER_BAR if end_tick is None else end_tick
    if end - last_bar >= ENDING_MIN_TICKS or n_bars == 1:
        return last_bar
    return max(int(np.floor((end - ENDING_MIN_TICKS) / HALF_BAR_TICKS)) * HALF_BAR_TICKS, 0)


def plan_chords(
    key: Key, sections: tuple[Section, ...], n_bars: int, *, seed: int, end_tick: float | None = None
) -> tuple[ChordChange, ...]:
    """The chord changes of a piece of ``n_bars`` bars in ``key`` with these ``sections`` (module doc); the final tonic from
    :func:`final_tick` of ``end_tick`` (the video's end on the grid; None: the last bar's end)."""
    tonic, mode = key.tonic, key.mode
    library = load_progressions()[mode]
    rng = np.random.default_rng([seed, 909])
    chosen: dict[str, Progression] = {}
    slots = np.full(n_bars * SLOTS_PER_BAR, NO_CHORD, np.int64)
    bounds = [s.start_bar for s in sections] + [n_bars]
    cycles = label_cycles(sections, n_bars)
    for section, end in zip(sections, bounds[1:], strict=True):
        if section.label not in chosen:
            chosen[section.label] = _draw(library, rng, next(reversed(chosen.values()), None))
        cycle = chosen[section.label].chord_values(tonic)[: cycles[section.label] * SLOTS_PER_BAR]
        slots[section.start_bar * SLOTS_PER_BAR : end * SLOTS_PER_BAR] = np.resize(cycle, (end - section.start_bar) * SLOTS_PER_BAR)
    final = final_tick(n_bars, end_tick) // HALF_BAR_TICKS
    slots[final:] = chord_value(tonic, mode)
    if n_bars >= CADENCE_MIN_BARS:
        slots[max(final - SLOTS_PER_BAR, 0) : final] = degree_chord("V:7", tonic)
    beats_per_slot = BEATS_PER_BAR // SLOTS_PER_BAR
    changes = np.flatnonzero(np.diff(slots, prepend=-1))
    return tuple(
        ChordChange(bar=int(i) // SLOTS_PER_BAR, beat=int(i) % SLOTS_PER_BAR * beats_per_slot, label=chord_label(int(slots[i])))
        for i in changes
    )


def make_plan(key: Key, sections: tuple[Section, ...], n_bars: int, *, seed: int, end_tick: float | None = None) -> Plan:
    """A :class:`Plan` in ``key`` over these sections (none: one section A), its chords seeded, ending by ``end_tick``
    (:func:`plan_chords`)."""
    sections = sections or (Section(start_bar=0, label="A"),)
    return Plan(key=key, sections=sections, chords=plan_chords(key, sections, n_bars, seed=seed, end_tick=end_tick))


def with_plan(controls: VideoControls, key: Key | None, *, seed: int) -> VideoControls:
    """``controls`` with a plan: as it is when it has chords and no other ``key`` is asked for; else planned anew
    in ``key`` (None: its own key, else its mood's, else C major) over its sections."""
    if controls.chords and (key is None or key == controls.key):
        return controls
    key = key or controls.key or (mood_key(controls.mood) if controls.mood else Key(0, "maj"))
    plan = make_plan(key, controls.sections, controls.n_bars, seed=seed, end_tick=controls.end_tick())
    return dataclasses.replace(controls, key=plan.key, sections=plan.sections, chords=plan.chords)


def echo_ticks(sections: tuple[Section, ...], n_bars: int) -> np.ndarray:
    """For every tick of ``n_bars`` bars, the earlier tick whose material it should echo, or -1; shape (n_bars * 16,).

    A bar of a returning section echoes the same bar of the label's first
    section; other bars echo the bar one chord cycle (:func:`label_cycles`, at
    most ``MAX_CYCLE_BARS``) before them in their own section, where the
    chords repeat; a section's first cycle echoes nothing.
    """
    echo = np.full(n_bars * TICKS_PER_BAR, -1, np.int64)
    bounds = [s.start_bar for s in sections] + [n_bars]
    first: dict[str, tuple[int, int]] = {}
    cycles = label_cycles(sections, n_bars)
    for section, end in zip(sections, bounds[1:], strict=True):
        earlier = first.setdefault(section.label, (section.start_bar, end))
        cycle = min(cycles[section.label], MAX_CYCLE_BARS)
        for bar in range(section.start_bar, end):
            offset = bar - section.start_bar
            if earlier[0] != section.start_bar and earlier[0] + offset < earlier[1]:
                source = earlier[0] + offset
            elif offset >= cycle:
                source = bar - cycle
            else:
                continue
            echo[bar * TICKS_PER_BAR : (bar + 1) * TICKS_PER_BAR] = np.arange(source * TICKS_PER_BAR, (source + 1) * TICKS_PER_BAR)
    return echo


def marker_ticks(sections: tuple[Section, ...], chords: tuple[ChordChange, ...]) -> list[tuple[int, str]]:
    """(grid tick, MIDI marker text) of a plan: ``section <label>`` at every section start, ``chord <label>`` at every change."""
    return [(s.start_bar * TICKS_PER_BAR, f"{SECTION_MARKER}{s.label}") for s in sections] + [
        (c.bar * TICKS_PER_BAR + c.beat * TICKS_PER_BEAT, f"{CHORD_MARKER}{c.label}") for c in chords
    ]


def scale_of(key: Key) -> np.ndarray:
    """Pitch classes (12 bools) of a key's scale: major, or natural minor with the raised seventh (harmonic minor's V7)."""
    steps = (0, 2, 4, 5, 7, 9, 11) if key.mode == "maj" else (0, 2, 3, 5, 7, 8, 10, 11)
    scale = np.zeros(12, bool)
    scale[[(key.tonic + step) % 12 for step in steps]] = True
    return scale


def sample_plan(n_bars: int, *, key: Key | None, seed: int) -> Plan:
    """The plan of a piece without a picture: ``key`` (None: drawn by the seed), 8-bar sections A B A B, seeded chords."""
    key = key or random_key(seed)
    return make_plan(key, song_sections(n_bars), n_bars, seed=seed)


def random_key(seed: int) -> Key:
    """A key drawn by the seed: either mode, a tonic of the mood table's."""
    rng = np.random.default_rng([seed, 24])
    mode = MODES[int(rng.integers(2))]
    tonics = MAJOR_TONICS if mode == "maj" else MINOR_TONICS
    return Key(int(rng.choice(tonics)), mode)

