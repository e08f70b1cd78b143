"""The band's parts as a composer writes them from the model's material: a held groove, a locked bass, comp figures.

Pure functions over note arrays of shape (N, 4): family, MIDI pitch, start
and duration in 16th ticks (:data:`~cmtlite.tokens.codec.FAMILY_COL` ...).
A name ending in ``_rel`` holds start ticks counted from its bar's first
tick (0..15); other arrays count from bar 0. Chords are chord values
(:mod:`cmtlite.tokens.chords`) per tick.

* **Groove** (:func:`drum_pattern`): of a section's drum bars the *medoid*
  (the bar most like the others, kick and snare weighing double) is the
  pattern every bar of the section plays; crashes belong to the form
  (section starts, strong cuts), not to the pattern.
* **Fill** (:func:`with_fill`): the bar before a section change ends on one
  of ``FILLS`` (snare and toms on the 16ths of its last beat, or of its last
  two in a busy bar), chosen by the section's label so a return brings the same fill.
* **Comp figure** (:func:`revoice`): a bar of a tonal part is replayed over
  other chords by keeping each note's role: a chord tone becomes the same
  chord tone (root, third, fifth, seventh) of the new chord, a passing note
  moves with the root and then to the nearest note of the key; each lands
  in the octave nearest its old pitch.
* **Pads** (:func:`pad_bar`): under a tune the strings hold the chords
  (a voicing per chord span, at most four voices in C3..C6, no semitone
  clusters, each voice to the nearest tone of the next chord).
* **Guitar** (:func:`guitar_bar`): in E2..E5, a figure of at least four notes
  (an arpeggio on the beats when the model's is thinner) or a rest; it does
  not double the piano.
* **Bass** (:func:`bass_line`): the bass plays on the pattern's kicks (so it
  locks to the kick) and on every chord change, the root at a change and on
  a bar's first note, else the role the model's bass played on that kick
  (root, fifth, octave or third), in the register the model used.
"""

from __future__ import annotations

import numpy as np

from cmtlite.constants import TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.tokens.chords import chord_pitch_classes
from cmtlite.tokens.codec import DURATION_COL, FAMILY_COL, PITCH_COL, START_COL
from cmtlite.tokens.vocab import BASS, CRASHES, DRUMS, GUITAR, HAND_CLAP, KICKS, SNARES, STRINGS

BACKBEAT = (*SNARES, HAND_CLAP)  # what weighs double with the kick in a groove
# Hats, ride, tambourine, cowbell, cabasa, maracas, shaker: the light layer that density thickens or thins.
LIGHT_PERCUSSION = (42, 44, 46, 51, 53, 54, 56, 59, 69, 70, 82)
KICK, SNARE, CLOSED_HAT, CRASH = 36, 38, 42, 49
# (tick in the bar, GM drum pitch) of each fill; the first three fill the last beat, the last the last two beats.
FILLS = (
    ((12, SNARE), (13, SNARE), (14, SNARE), (15, SNARE)),
    ((12, SNARE), (13, SNARE), (14, 50), (15, 47)),
    ((12, 50), (13, 48), (14, 45), (15, 43)),
    ((8, SNARE), (10, SNARE), (12, 50), (13, 48), (14, 45), (15, 43)),
)
BUSY_FILL_DENSITY = 12  # a bar asking for this many onsets or more gets the two-beat fill
BASS_LOW, BASS_HIGH = 28, 52  # E1..E3: where a bass note may sound
ROLE_ROOT, ROLE_FIFTH, ROLE_OCTAVE, ROLE_THIRD = range(4)
PAD_LOW, PAD_HIGH, PAD_VOICES = 48, 84, 4  # strings pads: C3..C6, at most four voices
GUITAR_LOW, GUITAR_HIGH = 40, 76  # E2..E5
MIN_COMP_NOTES = 4  # a guitar bar comps with at least this many notes (or rests)


def notes_in_bars(notes: np.ndarray, first_bar: int, end_bar: int) -> np.ndarray:
    """Rows of ``notes`` (N, 4) starting in bars ``first_bar`` .. ``end_bar - 1``."""
    starts = notes[:, START_COL]
    return notes[(starts >= first_bar * TICKS_PER_BAR) & (starts < end_bar * TICKS_PER_BAR)]


def bar_rel(notes: np.ndarray, bar: int) -> np.ndarray:
    """The notes starting in ``bar``, their starts made relative to the bar (``_rel``)."""
    rel = notes_in_bars(notes, bar, bar + 1).copy()
    rel[:, START_COL] -= bar * TICKS_PER_BAR
    return rel


def at_bar(notes_rel: np.ndarray, bar: int) -> np.ndarray:
    """Bar-relative notes placed in ``bar`` (starts counted from bar 0 again)."""
    placed = notes_rel.copy()
    placed[:, START_COL] += bar * TICKS_PER_BAR
    return placed


def jaccard(a: set, b: set) -> float:
    """|a & b| / |a | b|; two empty sets are alike (1.0)."""
    return len(a & b) / len(a | b) if a or b else 1.0


def drum_events(drums_rel: np.ndarray) -> set[tuple[int, int]]:
    """(tick, pitch) of a drum bar, kick and snare notes counted twice (as pitch and as pitch + 128)."""
    events = {(int(t), int(p)) for p, t in drums_rel[:, [PITCH_COL, START_COL]].tolist()}
    return events | {(t, p + 128) for t, p in events if p in KICKS + BACKBEAT}


def medoid(items: list[set]) -> int:
    """Index of the set with the largest summed Jaccard similarity to the others (the earliest on ties); -1 for none."""
    if not items:
        return -1
    scores = [sum(jaccard(a, b) for b in items) for a in items]
    return int(np.argmax(scores))


def drum_pattern(drum_bars_rel: list[np.ndarray]) -> tuple[int, np.ndarray]:
    """(index, groove) of a section's drum bars: its medoid bar without crashes, with a kick on the downbeat (the bass
    locks to the kick and plays the root there); (-1, empty) when no bar has drums."""
    playing = [i for i, bar in enumerate(drum_bars_rel) if len(bar)]
    if not playing:
        return -1, np.zeros((0, 4), np.int64)
    index = playing[medoid([drum_events(drum_bars_rel[i]) for i in playing])]
    pattern = drum_bars_rel[index]
    pattern = pattern[~np.isin(pattern[:, PITCH_COL], CRASHES)]
    if not (np.isin(pattern[:, PITCH_COL], KICKS) & (pattern[:, START_COL] == 0)).any():
        pattern = np.concatenate([pattern, [[DRUMS, KICK, 0, 1]]])
    return index, pattern


def with_fill(drums_rel: np.ndarray, fill: tuple[tuple[int, int], ...]) -> np.ndarray:
    """A drum bar ending on ``fill``: its notes from the fill's first tick on give way to it (a kick there stays)."""
    first = fill[0][0]
    keep = (drums_rel[:, START_COL] < first) | ((drums_rel[:, START_COL] == first) & np.isin(drums_rel[:, PITCH_COL], KICKS))
    added = np.array([[DRUMS, pitch, tick, 1] for tick, pitch in fill], np.int64)
    return np.concatenate([drums_rel[keep], added])


def nearest_pitch(pitch_class: int, near: int, *, low: int = 0, high: int = 127) -> int:
    """The MIDI pitch (0..127) of ``pitch_class`` nearest to ``near`` (the lower on a tie), within ``low..high`` when one is."""
    octaves = range(pitch_class % 12, 128, 12)  # every octave: one inside the range is found however far ``near`` lies
    return min(octaves, key=lambda p: (not low <= p <= high, abs(p - near), p))


def snap_to_scale(pitch_class: int, scale: np.ndarray) -> int:
    """``pitch_class`` if it is in ``scale`` (12 bools; empty: every class is), else the nearest one in it (downward on ties)."""
    if not len(scale) or scale[pitch_class % 12]:
        return pitch_class % 12
    for step in (1, 2):
        for candidate in (pitch_class - step, pitch_class + step):
            if scale[candidate % 12]:
                return candidate % 12
    return pitch_class % 12


def revoice_pitch(pitch: int, source_chord: int, target_chord: int, scale: np.ndarray) -> int:
    """A tonal note's pitch over ``target_chord`` that plays the role it played over ``source_chord`` (module doc)."""
    source, target = chord_pitch_classes(source_chord), chord_pitch_classes(target_chord)
    if source_chord == target_chord or not source or not target:
        return pitch
    if pitch % 12 in source:
        pitch_class = target[min(source.index(pitch % 12), len(target) - 1)]
    else:
        pitch_class = snap_to_scale(pitch + (target[0] - source[0] + 6) % 12 - 6, scale)
    return nearest_pitch(pitch_class, pitch)


def revoice(notes_rel: np.ndarray, source_chords: np.ndarray, target_chords: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Tonal bar ``notes_rel`` written over ``source_chords`` (16,) replayed over ``target_chords`` (16,): each note keeps its role."""
    out = notes_rel.copy()
    for row in out:
        tick = int(row[START_COL])
        row[PITCH_COL] = revoice_pitch(int(row[PITCH_COL]), int(source_chords[tick]), int(target_chords[tick]), scale)
    return out


def bass_roles(kicks_rel: np.ndarray, bass_rel: np.ndarray, chords: np.ndarray) -> dict[int, int]:
    """Role (``ROLE_*``) the model's bass bar ``bass_rel`` played at each kick tick (over the bar's ``chords`` (16,)); root when silent."""
    roles = {}
    for tick in kicks_rel.tolist():
        sounding = bass_rel[(bass_rel[:, START_COL] <= tick) & (bass_rel[:, START_COL] + bass_rel[:, DURATION_COL] > tick)]
        tones = chord_pitch_classes(int(chords[tick]))
        role = ROLE_ROOT
        if len(sounding) and tones:
            pitch = int(sounding[:, PITCH_COL].min())
            low = int(bass_rel[:, PITCH_COL].min())
            if pitch % 12 == tones[0]:
                role = ROLE_OCTAVE if pitch >= low + 12 else ROLE_ROOT
            elif len(tones) > 2 and pitch % 12 == tones[2]:
                role = ROLE_FIFTH
            elif pitch % 12 == tones[1]:
                role = ROLE_THIRD
        roles[tick] = role
    return roles


def bass_line(onsets_rel: np.ndarray, roles: dict[int, int], chords: np.ndarray, *, register: int) -> np.ndarray:
    """A bar of bass (rel) with a note on every tick of ``onsets_rel`` over the bar's ``chords`` (16,) (module doc).

    ``roles`` gives each onset's role (missing: root); the root is played at a
    chord change and on the bar's first onset. Each note lasts until the next
    onset, at most two beats, at least one 16th.
    """
    onsets = sorted({int(t) for t in onsets_rel.tolist()})
    rows = []
    for i, tick in enumerate(onsets):
        tones = chord_pitch_classes(int(chords[tick]))
        if not tones:
            continue
        changed = tick == 0 or chords[tick] != chords[tick - 1]
        role = ROLE_ROOT if changed or i == 0 else roles.get(tick, ROLE_ROOT)
        root = nearest_pitch(tones[0], register, low=BASS_LOW, high=BASS_HIGH)
        if role == ROLE_FIFTH and len(tones) > 2:
            pitch = nearest_pitch(tones[2], root + 5, low=BASS_LOW, high=BASS_HIGH)
        elif role == ROLE_THIRD:
            pitch = nearest_pitch(tones[1], root + 3, low=BASS_LOW, high=BASS_HIGH)
        elif role == ROLE_OCTAVE and root + 12 <= BASS_HIGH:
            pitch = root + 12
        else:
            pitch = root
        end = onsets[i + 1] if i + 1 < len(onsets) else TICKS_PER_BAR
        rows.append([BASS, pitch, tick, int(np.clip(end - tick, 1, 2 * TICKS_PER_BEAT))])
    return np.array(rows, np.int64).reshape(-1, 4)


def approach_note(last_pitch: int, next_root_class: int, scale: np.ndarray) -> int:
    """A bass note a step below or above the next chord's root (nearest ``last_pitch``), leading into it."""
    root = nearest_pitch(next_root_class, last_pitch, low=BASS_LOW + 2, high=BASS_HIGH - 2)
    below, above = snap_to_scale(root - 2, scale), snap_to_scale(root + 2, scale)
    options = [nearest_pitch(below, root - 1), nearest_pitch(above, root + 1)]
    return min(options, key=lambda p: (abs(p - last_pitch), p))


def family_rows(notes: np.ndarray, family: int) -> np.ndarray:
    """The rows of one family."""
    return notes[notes[:, FAMILY_COL] == family]


def pad_bar(chords: np.ndarray, previous: list[int], *, centre: int) -> tuple[np.ndarray, list[int]]:
    """Strings as pads: (bar rel notes, last voicing) holding one voicing per chord span of the bar's ``chords`` (16,).

    Each voicing has at most ``PAD_VOICES`` chord tones within ``PAD_LOW``..``PAD_HIGH`` (C3..C6), no two a
    semitone apart, each voice moving to the nearest tone of the next chord (from ``previous``; empty: around ``centre``).
    """
    changes = [0] + [t for t in range(1, TICKS_PER_BAR) if chords[t] != chords[t - 1]] + [TICKS_PER_BAR]
    rows, voicing = [], list(previous)
    for start, end in zip(changes[:-1], changes[1:], strict=True):
        tones = chord_pitch_classes(int(chords[start]))[:PAD_VOICES]
        if not tones:
            continue
        targets = sorted(voicing) if len(voicing) == len(tones) else [centre - 5 + 5 * k for k in range(len(tones))]
        pitches = sorted(nearest_pitch(pc, t, low=PAD_LOW, high=PAD_HIGH) for pc, t in zip(tones, targets, strict=True))
        voicing = []
        for pitch in pitches:
            if voicing and pitch - voicing[-1] <= 1:
                pitch += 12
            if pitch <= PAD_HIGH and pitch not in voicing:
                voicing.append(pitch)
        rows += [[STRINGS, p, start, end - start] for p in voicing]
    return np.array(rows, np.int64).reshape(-1, 4), voicing


def guitar_bar(figure_rel: np.ndarray, chords: np.ndarray, piano_rel: np.ndarray) -> np.ndarray:
    """Guitar comping of a bar: ``figure_rel`` moved by octaves into E2..E5, or an arpeggio on the beats (root, fifth, octave,
    third) when it has fewer than ``MIN_COMP_NOTES`` notes; a note doubling a piano note (pitch and onset) moves an octave."""
    rows = [[GUITAR, nearest_pitch(p % 12, p, low=GUITAR_LOW, high=GUITAR_HIGH), t, d] for _, p, t, d in figure_rel.tolist()]
    if len(rows) < MIN_COMP_NOTES:
        rows = []
        for k, tick in enumerate(range(0, TICKS_PER_BAR, TICKS_PER_BEAT)):
            tones = chord_pitch_classes(int(chords[tick]))
            if tones:
                root = nearest_pitch(tones[0], 48, low=GUITAR_LOW, high=GUITAR_HIGH)
                fifth = nearest_pitch(tones[-1 if len(tones) < 3 else 2], root + 7)
                pitch = (root, fifth, root + 12, nearest_pitch(tones[1], root + 16))[k]
                rows.append([GUITAR, nearest_pitch(pitch % 12, pitch, low=GUITAR_LOW, high=GUITAR_HIGH), tick, TICKS_PER_BEAT])
    piano = {(int(p), int(t)) for p, t in piano_rel[:, [PITCH_COL, START_COL]].tolist()}
    for row in rows:
        if (row[1], row[2]) in piano:
            row[1] = row[1] + 12 if row[1] + 12 <= GUITAR_HIGH else row[1] - 12
    return np.array(rows, np.int64).reshape(-1, 4)


def below(notes_rel: np.ndarray, ceiling: int) -> np.ndarray:
    """``notes_rel`` with every note above ``ceiling`` moved down by octaves (the comping stays under the tune)."""
    out = notes_rel.copy()
    for row in out:
        while row[PITCH_COL] > ceiling and row[PITCH_COL] - 12 >= BASS_HIGH - 12:
            row[PITCH_COL] -= 12
    return out
