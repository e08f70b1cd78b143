"""What an edit of a project's controls implies: a new grid when the cuts moved, new chords when the key or sections changed.

The page sends whole controls (``PUT controls``); :func:`apply_edit` compares
them with the stored ones:

* ``scene_cuts_s`` changed while the grid (tempo, tempo map, start, bars) was
  left alone: the tempo map is fitted again to the visual beats and the new
  cuts (:func:`~cmtlite.video.grid.fit_tempo_map`: each cut on a beat, on a bar
  line after a shot of two bars or more), the bars and beats keep the
  densities and strength levels found at their times, the sections follow the
  cuts (:func:`follow_cuts`) and the chords are planned anew;
* the key or the sections changed while the chords were left alone: the
  chords are planned anew in that key over those sections
  (:func:`~cmtlite.music.plan.plan_chords`; a label keeps its progression when
  the labels before it are unchanged).

Anything else is kept as sent, so an undo (which sends the earlier controls
whole) restores them exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cmtlite.constants import TICKS_PER_BAR
from cmtlite.controls import Beat, Section, TempoChange, VideoControls, VisualBeat
from cmtlite.music.plan import MIN_SECTION_BARS, plan_chords, section_labels
from cmtlite.timing import TempoMap
from cmtlite.video.grid import fit_tempo_map
from cmtlite.video.rhythm import VisualBeats

PLAN_SEED = 0  # the seed of chords planned anew (the analysis plans with seed 0 too)
SAME_CUT_S = 1e-3  # cuts closer than this are one cut


def apply_edit(stored: VideoControls, edited: VideoControls) -> VideoControls:
    """The controls to keep when ``edited`` replaces ``stored`` (module doc)."""
    same_grid = (edited.tempo_bpm, edited.tempo_map, edited.grid_start_s, edited.n_bars) == (
        stored.tempo_bpm, stored.tempo_map, stored.grid_start_s, stored.n_bars)
    if not _same_cuts(edited.scene_cuts_s, stored.scene_cuts_s) and same_grid:
        return refit_to_cuts(edited)
    if (edited.key, edited.sections) != (stored.key, stored.sections) and edited.chords == stored.chords and edited.key:
        return dataclasses.replace(edited, chords=plan_chords(edited.key, edited.sections or _one_section(), edited.n_bars, seed=PLAN_SEED))
    return edited


def _same_cuts(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(abs(x - y) < SAME_CUT_S for x, y in zip(sorted(a), sorted(b), strict=True))


def _one_section() -> tuple[Section, ...]:
    return (Section(start_bar=0, label="A"),)


def refit_to_cuts(controls: VideoControls) -> VideoControls:
    """``controls`` on a tempo map fitted again to its visual beats and its (edited) ``scene_cuts_s`` (module doc).

    The visual beats marked as cuts become the new cuts (strength 1); bars and
    beats take the density and strength level of the old bar or beat at their
    time; sections and chords follow (:func:`follow_cuts`).
    """
    cuts_s = np.unique(np.clip(np.asarray(controls.scene_cuts_s, float), 0.0, controls.duration_s))
    beats = [b for b in controls.visual_beats if not b.is_cut] + [VisualBeat(time_s=float(t), strength=1.0, is_cut=True) for t in cuts_s]
    beats.sort(key=lambda b: b.time_s)
    visual = VisualBeats(times_s=np.array([b.time_s for b in beats], float), strengths=np.array([b.strength for b in beats], float),
                         is_cut=np.array([b.is_cut for b in beats], bool))
    old, timing = controls.timing(), fit_tempo_map(visual, cuts_s, tempo_bpm=controls.tempo_bpm, duration_s=controls.duration_s)
    middles_s = (timing.bar_starts_s[:-1] + timing.bar_starts_s[1:]) / 2
    old_bar = np.clip(np.searchsorted(old.bar_starts_s, middles_s, side="right") - 1, 0, controls.n_bars - 1)
    beat_times_s, old_beat_times_s = timing.beat_times_s(), old.beat_times_s()
    old_beat = np.abs(beat_times_s[:, None] - old_beat_times_s[None, :]).argmin(axis=1)
    tempos = timing.bar_tempos_bpm()
    sections = follow_cuts(controls, timing, cuts_s)
    draft = dataclasses.replace(
        controls,
        grid_start_s=float(timing.bar_starts_s[0]),
        n_bars=timing.n_bars,
        tempo_map=tuple(TempoChange(bar=b, tempo_bpm=float(tempos[b])) for b in range(timing.n_bars)
                        if b == 0 or abs(tempos[b] - tempos[b - 1]) > 1e-6 * tempos[b]),
        visual_beats=tuple(beats),
        scene_cuts_s=tuple(float(t) for t in cuts_s),
        bars=tuple(dataclasses.replace(controls.bars[i], index=b, start_s=float(t))
                   for b, (i, t) in enumerate(zip(old_bar.tolist(), timing.bar_starts_s[:-1], strict=True))),
        beats=tuple(Beat(index=k, time_s=float(t), strength_level=controls.beats[i].strength_level)
                    for k, (i, t) in enumerate(zip(old_beat.tolist(), beat_times_s, strict=True))),
        sections=sections,
        chords=plan_chords(controls.key, sections, timing.n_bars, seed=PLAN_SEED) if controls.key else (),
    )
    return VideoControls.from_json(draft.to_json())  # rounded as controls.json stores it


def follow_cuts(controls: VideoControls, timing: TempoMap, cuts_s: np.ndarray) -> tuple[Section, ...]:
    """Sections on the grid ``timing`` after ``controls``' cuts became ``cuts_s``.

    A section start that sat on a cut that is gone goes with it; the others
    keep their time and label; a cut that moved (as many cuts removed as
    added: paired in order) takes its section along; a new cut starts a
    section with a new label. Starts land on the nearest bar line; one closer
    than ``MIN_SECTION_BARS`` to the one before (or the end) is dropped.
    """
    old = controls.timing()
    old_cuts = np.asarray(controls.scene_cuts_s, float)
    removed = [t for t in old_cuts if np.abs(cuts_s - t).min(initial=np.inf) >= SAME_CUT_S]
    added = [t for t in cuts_s if np.abs(old_cuts - t).min(initial=np.inf) >= SAME_CUT_S]

    def bar_of(time_s: float, grid: TempoMap) -> int:
        return int(np.rint(grid.seconds_to_ticks(time_s) / TICKS_PER_BAR))

    at_cut = {bar_of(t, old): t for t in removed}
    moved = dict(zip(removed, added, strict=True)) if len(removed) == len(added) else {}
    starts: list[tuple[float, str]] = []
    for section in controls.sections[1:]:
        cut = at_cut.get(section.start_bar)
        if cut is None:
            starts.append((float(old.bar_starts_s[section.start_bar]), section.label))
        elif cut in moved:
            starts.append((float(moved[cut]), section.label))
    taken = {s.label for s in controls.sections}
    fresh = (label for label in section_labels(len(taken) + len(added) + 1) if label not in taken)
    starts += [(float(t), next(fresh)) for t in added if t not in moved.values()]
    first = controls.sections[0].label if controls.sections else "A"
    sections = [Section(start_bar=0, label=first)]
    for time_s, label in sorted(starts):
        bar = bar_of(time_s, timing)
        if bar - sections[-1].start_bar >= MIN_SECTION_BARS and timing.n_bars - bar >= MIN_SECTION_BARS:
            sections.append(Section(start_bar=bar, label=label))
    return tuple(sections)
