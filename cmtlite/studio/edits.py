"""What an edit of a project's controls implies: a new grid when the cuts moved, new chords when the key or sections changed.

The page sends whole controls (``PUT controls``); :func:`apply_edit` compares
them with the stored ones:

* ``scene_cuts_s`` changed while the grid (tempo, tempo map, start, bars) was
  left alone: the tempo map is fitted again to the visual beats and the new
  cuts (:func:`~cmtlite.video.grid.fit_tempo_map`: each cut on a beat, on a bar
  line after a shot of two bars or more), the bars and beats keep the
  densities and strength levels found at their times, the phrase sections are
  made anew over the new shots (:func:`follow_cuts`) and the chords are planned anew;
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
from cmtlite.music.plan import plan_chords, shot_sections
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
    """Phrase sections (:func:`~cmtlite.music.plan.shot_sections`) on the grid ``timing`` after ``controls``' cuts became ``cuts_s``.

    A shot that starts at a new cut looks new; any other shot looks like the
    section it sat in before (on the old grid, at the shot's middle), so a
    moved cut takes its section's look along and a removed cut's shots merge.
    """
    old = controls.timing()
    old_cuts = np.asarray(controls.scene_cuts_s, float)
    sections = controls.sections or _one_section()
    labels = sorted({s.label for s in sections})
    bounds_s = np.concatenate([[0.0], np.sort(cuts_s), [controls.duration_s]])
    looks, fresh = [], len(labels)
    for start_s, end_s in zip(bounds_s[:-1], bounds_s[1:], strict=True):
        if start_s > 0 and np.abs(old_cuts - start_s).min(initial=np.inf) >= SAME_CUT_S and len(old_cuts) <= len(cuts_s):
            look, fresh = fresh, fresh + 1  # a cut that was not there: a new look
        else:
            bar = int(np.clip(old.seconds_to_ticks((start_s + end_s) / 2) // TICKS_PER_BAR, 0, controls.n_bars - 1))
            look = labels.index(next(s.label for s in reversed(sections) if s.start_bar <= bar))
        looks.append(np.full(6, 255.0 * look))
    cut_bars = np.rint(timing.seconds_to_ticks(np.sort(cuts_s)) / TICKS_PER_BAR).astype(int)
    return shot_sections(cut_bars, np.asarray(looks), timing.n_bars)
