"""Groove and form metrics of one piece: does the band hold a groove, does material return, do sections land.

Everything is counted on the 16th grid of :mod:`cmtlite.evaluate.notes`
(``onset16``, ``end16``, bars of 16 sixteenths). Each metric is None where it
is undefined (named below). Drum sounds by GM key:

* kick 35, 36; snare 38, 40 and side stick 37 (a softer section's backbeat:
  it plays the snare's role); toms 41, 43, 45, 47, 48, 50; crashes 49, 57
  (crash 1, 2), 52 (Chinese), 55 (splash).
* A bar's **kick+snare pattern** is the set of (kick or snare, 16th of the
  bar) pairs of the drum onsets in it; a bar *has a pattern* when the set is
  not empty. The **groove sections** are the ``section`` markers'
  (:func:`~cmtlite.evaluate.notes.sections`), without markers consecutive
  8-bar blocks from bar 0 (a phrase).

Groove:

* ``drum_pattern_share``: over the bars with a pattern, the share whose
  pattern equals the most common pattern of the bars with a pattern in its
  groove section.
* ``drum_consecutive_jaccard``: over the pairs of consecutive bars that both
  have a pattern, the mean Jaccard (|A and B| / |A or B|) of their patterns.
* ``bass_on_kick``: over the distinct onset 16ths of the bass (GM bass
  programs 32-39) in bars with a kick onset, the share that carry a kick onset.
* ``bass_at_chord_changes``: over the chord changes (the 16ths at which
  :func:`~cmtlite.evaluate.notes.harmony`'s chord value changes to a chord)
  from the first bass onset to the last bass note's end, the share at which a
  bass note sounds (``onset16 <= change < end16``: struck or held).
* ``fills_before_sections``: over the groove sections after the first, the
  share whose preceding bar has a **fill**: at least 3 of the 8 sixteenths of
  its beats 3-4 carry a snare or tom onset, and its kick+snare pattern
  differs from its own section's most common one.
* ``crashes_per_bar``: distinct 16ths with a crash onset, divided by the
  bars with any drum onset.

Form:

* ``same_label_similarity``: for every marked section whose label occurred
  before, per part, the Jaccard of the sets of (bar offset in the section,
  16th of the bar, pitch) of the note onsets of it and of the label's first
  section, over the bar offsets both have; the mean over the parts that play
  in either (a part's set is all its notes), then over such returns.
* ``different_label_similarity``: the same between the first sections of
  every pair of different labels.
* ``block_match_8bar``: for every 8-bar block starting on a bar 8 k (whole,
  with a note), the best Jaccard of its (part, bar offset, 16th, pitch) set
  with that of any 8 bars starting at least 8 bars before or after it; the
  mean over the blocks (needs 16 bars).
* ``bar_repetition``: per part, for every bar in which it starts a note, the
  best Jaccard of its (16th, pitch) set with another such bar of the part;
  the mean over those bars (``bar_repetition_by_part``), then over the parts
  that play in at least 2 bars.
* ``section_lengths_bars``: bars of each marked section;
  ``min_section_bars``: the shortest, the last section not counted (a
  piece may end inside a phrase); None with one section.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from cmtlite.constants import TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.evaluate.notes import Notes, harmony, sections
from cmtlite.tokens.chords import NO_CHORD
from cmtlite.tokens.vocab import CRASHES, KICKS, SNARES, TOMS

BLOCK_BARS = 8  # the phrase: default groove section and the block of block_match_8bar
FILL_MIN_ONSETS = 3  # snare/tom 16ths in the last two beats that make a fill
FILL_FROM_16TH = 2 * TICKS_PER_BEAT  # the bar's beats 3-4
GROOVE_METRICS = ("drum_pattern_share", "drum_consecutive_jaccard", "bass_on_kick", "bass_at_chord_changes", "fills_before_sections",
                  "crashes_per_bar")
FORM_METRICS = ("same_label_similarity", "different_label_similarity", "block_match_8bar", "bar_repetition", "min_section_bars")


def drum_patterns(notes: Notes) -> np.ndarray:
    """Kick+snare pattern of every bar as a bit mask, shape (n_bars,): bit p for a kick on 16th p, bit 16 + p for a snare; 0: none."""
    masks = np.zeros(notes.n_bars, np.int64)
    on = notes.onset_ticks
    for pitches, offset in ((KICKS, 0), (SNARES, TICKS_PER_BAR)):
        hit = notes.is_drum & np.isin(notes.pitch, pitches) & (on >= 0)
        for tick in np.unique(on[hit]).tolist():
            masks[tick // TICKS_PER_BAR] |= 1 << (offset + tick % TICKS_PER_BAR)
    return masks


def groove_sections(notes: Notes) -> list[tuple[int, int]]:
    """(first bar, bars) of the marked sections, else of consecutive 8-bar blocks from bar 0."""
    marked = sections(notes)
    if marked:
        return [(start, length) for start, length, _ in marked]
    return [(start, min(BLOCK_BARS, notes.n_bars - start)) for start in range(0, notes.n_bars, BLOCK_BARS)]


def _section_modes(masks: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """Per bar, the most common non-empty pattern of its groove section (0 where the section has none)."""
    modes = np.zeros(len(masks), np.int64)
    for start, length in spans:
        found = Counter(m for m in masks[start : start + length].tolist() if m)
        if found:
            modes[start : start + length] = found.most_common(1)[0][0]
    return modes


def _jaccard_bits(a: int, b: int) -> float:
    return (a & b).bit_count() / (a | b).bit_count()


def drum_metrics(notes: Notes) -> dict[str, float | None]:
    """``drum_pattern_share``, ``drum_consecutive_jaccard``, ``fills_before_sections`` and ``crashes_per_bar`` (module doc)."""
    out: dict[str, float | None] = dict.fromkeys(("drum_pattern_share", "drum_consecutive_jaccard", "fills_before_sections",
                                                  "crashes_per_bar"))
    drums = notes.is_drum & (notes.onset_ticks >= 0)
    if not drums.any():
        return out
    masks, spans = drum_patterns(notes), groove_sections(notes)
    modes = _section_modes(masks, spans)
    with_pattern = masks != 0
    if with_pattern.any():
        out["drum_pattern_share"] = float(np.mean(masks[with_pattern] == modes[with_pattern]))
    pairs = [(a, b) for a, b in zip(masks[:-1].tolist(), masks[1:].tolist(), strict=True) if a and b]
    if pairs:
        out["drum_consecutive_jaccard"] = float(np.mean([_jaccard_bits(a, b) for a, b in pairs]))
    before = [start - 1 for start, _ in spans[1:] if start >= 1]
    if before:
        fill_bars = _fill_bars(notes)
        out["fills_before_sections"] = float(np.mean([bar in fill_bars and masks[bar] != modes[bar] for bar in before]))
    on = notes.onset_ticks[drums]
    crash_ticks = np.unique(on[np.isin(notes.pitch[drums], CRASHES)])
    out["crashes_per_bar"] = len(crash_ticks) / len(np.unique(on // TICKS_PER_BAR))
    return out


def _fill_bars(notes: Notes) -> set[int]:
    """Bars with at least FILL_MIN_ONSETS distinct snare/tom 16ths in their beats 3-4."""
    on = notes.onset_ticks
    hits = np.unique(on[notes.is_drum & np.isin(notes.pitch, SNARES + TOMS) & (on >= 0) & (on % TICKS_PER_BAR >= FILL_FROM_16TH)])
    bars, counts = np.unique(hits // TICKS_PER_BAR, return_counts=True)
    return set(bars[counts >= FILL_MIN_ONSETS].tolist())


def bass_on_kick(notes: Notes) -> float | None:
    """Share of the bass's distinct onset 16ths (in bars with a kick) that carry a kick onset; None without such onsets."""
    on = notes.onset_ticks
    kicks = set(on[notes.is_drum & np.isin(notes.pitch, KICKS)].tolist())
    kick_bars = {tick // TICKS_PER_BAR for tick in kicks}
    bass = [tick for tick in np.unique(on[notes.is_bass]).tolist() if tick // TICKS_PER_BAR in kick_bars]
    return float(np.mean([tick in kicks for tick in bass])) if bass else None


def bass_at_chord_changes(notes: Notes) -> float | None:
    """Share of the chord changes inside the bass's span at which a bass note sounds (module doc); None without any."""
    if not notes.is_bass.any():
        return None
    on, end = notes.onset_ticks[notes.is_bass], notes.end_ticks[notes.is_bass]
    starts, values = harmony(notes)
    changes = np.rint(np.asarray(starts) * TICKS_PER_BEAT).astype(np.int64)[np.asarray(values) != NO_CHORD]
    changes = changes[(changes >= on.min()) & (changes < end.max())]
    if not len(changes):
        return None
    return float(np.mean([((on <= t) & (end > t)).any() for t in changes.tolist()]))


def bar_sets(notes: Notes, rows: np.ndarray) -> list[list[set[int]]]:
    """Per part, per bar, the set of ``16th * 128 + pitch`` of the onsets of ``notes`` selected by bool ``rows`` (N,)."""
    out = [[set() for _ in range(notes.n_bars)] for _ in notes.part_names]
    on = notes.onset_ticks
    for part, tick, pitch in zip(notes.part[rows].tolist(), on[rows].tolist(), notes.pitch[rows].tolist(), strict=True):
        if tick >= 0:
            out[part][tick // TICKS_PER_BAR].add(tick % TICKS_PER_BAR * 128 + pitch)
    return out


def _overlaps(bars: list[set[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(|bar i and bar j| (B, B), |bar i| (B,)) for one part's bar sets."""
    sizes = np.array([len(s) for s in bars])
    inter = np.zeros((len(bars), len(bars)), np.int64)
    active = np.flatnonzero(sizes)
    for k, i in enumerate(active.tolist()):
        for j in active[k:].tolist():
            inter[i, j] = inter[j, i] = len(bars[i] & bars[j])
    return inter, sizes


def _span_jaccard(inter: np.ndarray, sizes: np.ndarray, a: int, b: int, length: int) -> float | None:
    """Jaccard of the (bar offset, 16th, pitch) sets of bars a.. and b.. over ``length`` bars; None when both are empty."""
    length = min(length, len(sizes) - max(a, b))  # a section may start after the last note
    if length <= 0:
        return None
    both = sum(int(inter[a + o, b + o]) for o in range(length))
    union = int(sizes[a : a + length].sum() + sizes[b : b + length].sum()) - both
    return both / union if union else None


def section_similarity(notes: Notes) -> dict[str, float | None]:
    """``same_label_similarity`` and ``different_label_similarity`` (module doc); None without such sections."""
    marked = sections(notes)
    per_part = [_overlaps(bars) for bars in bar_sets(notes, np.ones(len(notes.pitch), bool))]
    first: dict[str, tuple[int, int]] = {}
    same, different = [], []
    for start, length, label in marked:
        if label in first:
            same.append(_sections_jaccard(per_part, first[label], (start, length)))
        else:
            different += [_sections_jaccard(per_part, other, (start, length)) for other in first.values()]
            first[label] = (start, length)
    return {"same_label_similarity": _mean(same), "different_label_similarity": _mean(different)}


def _sections_jaccard(per_part: list[tuple[np.ndarray, np.ndarray]], a: tuple[int, int], b: tuple[int, int]) -> float | None:
    length = min(a[1], b[1])
    return _mean([_span_jaccard(inter, sizes, a[0], b[0], length) for inter, sizes in per_part])


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def block_match(notes: Notes) -> float | None:
    """``block_match_8bar`` (module doc): mean best Jaccard of each 8-bar block with 8 bars at least 8 bars away."""
    n_bars = notes.n_bars
    if n_bars < 2 * BLOCK_BARS:
        return None
    parts = bar_sets(notes, np.ones(len(notes.pitch), bool))
    merged = [{part * TICKS_PER_BAR * 128 + item for part, bars in enumerate(parts) for item in bars[bar]} for bar in range(n_bars)]
    inter, sizes = _overlaps(merged)
    starts = n_bars - BLOCK_BARS + 1  # windows 0 .. n_bars - 8
    both = sum(inter[o : o + starts, o : o + starts] for o in range(BLOCK_BARS))  # (starts, starts): shared items of windows i and j
    size = np.convolve(sizes, np.ones(BLOCK_BARS, np.int64), mode="valid")  # (starts,)
    best = []
    for block in range(0, starts, BLOCK_BARS):
        far = np.abs(np.arange(starts) - block) >= BLOCK_BARS
        if size[block] and far.any():
            union = size[block] + size[far] - both[block, far]
            best.append(float(np.max(np.divide(both[block, far], union, out=np.zeros(len(union)), where=union > 0))))
    return _mean(best)


def bar_repetition(notes: Notes) -> tuple[float | None, dict[str, float]]:
    """(``bar_repetition``, ``bar_repetition_by_part``) (module doc)."""
    by_part = {}
    for name, bars in zip(notes.part_names, bar_sets(notes, np.ones(len(notes.pitch), bool)), strict=True):
        inter, sizes = _overlaps(bars)
        active = np.flatnonzero(sizes)
        if len(active) < 2:
            continue
        sub = inter[np.ix_(active, active)].astype(float)
        jaccard = sub / (sizes[active][:, None] + sizes[active][None, :] - sub)
        np.fill_diagonal(jaccard, -1.0)
        by_part[name] = float(jaccard.max(axis=1).mean())
    return _mean(list(by_part.values())), by_part


def form_metrics(notes: Notes) -> dict[str, Any]:
    """Every groove and form metric of one piece (module doc), keyed by name; ``*_by_part`` and lengths as dict / list."""
    lengths = [length for _, length, _ in sections(notes)]
    repetition, by_part = bar_repetition(notes)
    return {
        **drum_metrics(notes),
        "bass_on_kick": bass_on_kick(notes),
        "bass_at_chord_changes": bass_at_chord_changes(notes),
        **section_similarity(notes),
        "block_match_8bar": block_match(notes),
        "bar_repetition": repetition,
        "bar_repetition_by_part": by_part,
        "section_lengths_bars": lengths,
        "min_section_bars": min(lengths[:-1]) if len(lengths) > 1 else None,
    }

