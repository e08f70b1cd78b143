"""Tune and role metrics of one piece: is there a singable line in front, and does each part play its role.

Counted on the 16th grid of :mod:`cmtlite.evaluate.notes` (``onset16``,
``end16``, bars of 16 sixteenths); None where undefined.

The tune is the lead part (:func:`~cmtlite.evaluate.notes.lead_part`: a
``lead`` track, POP909's MELODY, a Lakh melody / vocal / lead track; none
otherwise). Its **line**: at every onset 16th of the lead, its highest note
starting there (so a stray double stop does not break the line).

* ``lead_line_bars``: over the bars in which the lead starts a note, the share
  that hold a one-note-at-a-time line: no two lead notes start on one 16th and
  no lead note still sounds more than one 16th after the next lead note starts
  (a bar fails when one of its notes is in such a pair).
* ``lead_steps``: over consecutive notes of the line, the share of moves of
  at most 2 semitones (repeated notes included); ``lead_leaps``: of more than
  7 semitones; ``lead_mean_interval``: the mean move in semitones.
* ``lead_range``: 95th minus 5th percentile of the line's pitches, in
  semitones (numpy's linear interpolation: a stray note does not count);
  ``lead_range_full``: highest minus lowest.
* ``lead_motif_notes``: the most notes n such that n consecutive notes of the
  line come back later as n other consecutive notes (none shared) with the
  same n - 1 pitch intervals (so a sequence at another pitch counts) and the
  same n - 1 onset-to-onset gaps in 16ths; 1 when nothing repeats.
* ``lead_phrase_ends_per_8_bars``: a line note ends a phrase when the next
  line note starts at least a beat (4 sixteenths) after it ends, when it lasts
  at least 2 beats, or when it is the last; their count times 8 over the bars
  the line spans (from the bar of its first onset to that of its last end).
* ``lead_chord_tones``: the share of the line's onsets whose pitch class
  belongs to the chord sounding then (:func:`~cmtlite.evaluate.notes.harmony`;
  see :func:`~cmtlite.evaluate.metrics.chord_tone_ratio`).

Roles (parts by family, see :mod:`cmtlite.evaluate.notes`):

* strings: ``strings_long_share`` notes of at least 2 beats (8 sixteenths);
  ``strings_max_voices`` the most strings notes sounding on one 16th;
  ``strings_cluster_share`` over the strings' onset 16ths, the share at which
  two sounding strings notes lie a semitone apart; ``strings_outside_range``
  the share of notes outside C3-C6 (MIDI 48-84); ``strings_range`` highest
  minus lowest pitch.
* guitar: ``guitar_outside_range`` the share of notes outside E2-E5 (MIDI
  40-76); ``guitar_doubling_piano`` the share of guitar notes whose pitch a
  piano-family note also starts on the same 16th; ``guitar_notes_per_bar`` its
  notes per bar in the bars where it starts one.
* velocity: ``same_velocity_share`` over the 16ths at which at least two
  parts start notes, the share at which every note starting there has one
  velocity; ``velocity_by_family`` the mean velocity of each family's notes
  and of the drums' kick (35, 36), snare (37, 38, 40) and hi-hats (42, 44, 46).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cmtlite.constants import TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.evaluate.metrics import chord_tone_ratio
from cmtlite.evaluate.notes import Notes, harmony, lead_part
from cmtlite.tokens.vocab import HATS, KICKS, SNARES

STEP_MAX_SEMITONES = 2
LEAP_MIN_SEMITONES = 8  # a leap is more than a fifth (7 semitones)
RANGE_PERCENTILES = (5, 95)
PHRASE_REST_16THS = TICKS_PER_BEAT  # a rest of a beat ...
PHRASE_HELD_16THS = 2 * TICKS_PER_BEAT  # ... or a note of 2 beats ends a phrase
LONG_NOTE_16THS = 2 * TICKS_PER_BEAT
STRINGS_RANGE = (48, 84)  # C3..C6
GUITAR_RANGE = (40, 76)  # E2..E5
TUNE_METRICS = ("lead_line_bars", "lead_steps", "lead_leaps", "lead_range", "lead_range_full", "lead_mean_interval", "lead_motif_notes",
                "lead_phrase_ends_per_8_bars", "lead_chord_tones")
ROLE_METRICS = ("strings_long_share", "strings_max_voices", "strings_cluster_share", "strings_outside_range", "strings_range",
                "guitar_outside_range", "guitar_doubling_piano", "guitar_notes_per_bar", "same_velocity_share")


def melody_line(pitch: np.ndarray, onset16: np.ndarray, end16: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pitch, onset16, end16) of the line of a part's notes (N,): its highest note at each onset 16th, in time order."""
    order = np.lexsort((-pitch, onset16))
    first = np.flatnonzero(np.diff(onset16[order], prepend=-1) != 0)
    keep = order[first]
    return pitch[keep], onset16[keep], end16[keep]


def line_bar_share(onset16: np.ndarray, end16: np.ndarray) -> float | None:
    """``lead_line_bars`` of a part's notes (module doc); None without notes."""
    if not len(onset16):
        return None
    order = np.argsort(onset16, kind="stable")
    on, end = onset16[order], end16[order]
    clash = (on[1:] == on[:-1]) | (end[:-1] - on[1:] > 1)  # note k and k + 1 sound together
    bad = np.zeros(len(on), bool)
    bad[:-1] |= clash
    bad[1:] |= clash
    bars = on // TICKS_PER_BAR
    played = np.unique(bars)
    return float(1 - len(np.unique(bars[bad])) / len(played))


def longest_motif(pitch: np.ndarray, onset16: np.ndarray) -> int:
    """``lead_motif_notes`` of a line (module doc): 0 for an empty line, else at least 1."""
    if len(pitch) < 2:
        return len(pitch)
    steps = np.column_stack([np.diff(pitch), np.diff(onset16)])  # (L - 1, 2): interval and gap to the next note
    best = 0
    for shift in range(2, len(steps) + 1):  # motif occurrences starting `shift` notes apart (a shift of 1 shares notes)
        same = np.all(steps[:-shift] == steps[shift:], axis=1) if shift < len(steps) else np.zeros(0, bool)
        run = _longest_run(same)
        best = max(best, min(run, shift - 1))  # n - 1 steps; non-overlapping notes need n <= shift
    return best + 1


def _longest_run(flags: np.ndarray) -> int:
    """Length of the longest run of True in a bool array."""
    if not flags.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return int(np.max(edges[1::2] - edges[::2]))


def phrase_ends(onset16: np.ndarray, end16: np.ndarray) -> np.ndarray:
    """Bool (L,): which notes of a line end a phrase (module doc)."""
    rest = np.append(onset16[1:] - end16[:-1], PHRASE_REST_16THS)  # the last note ends the line
    return (rest >= PHRASE_REST_16THS) | (end16 - onset16 >= PHRASE_HELD_16THS)


def tune_metrics(notes: Notes, *, part: int | None = None) -> dict[str, Any]:
    """Every tune metric (module doc) and ``lead_part``, the lead's part name (None: no lead, every metric None).

    ``part`` measures that part (an index into ``notes.part_names``) as if it
    were the lead; None: the lead part.
    """
    out: dict[str, Any] = {"lead_part": None, **dict.fromkeys(TUNE_METRICS)}
    lead = lead_part(notes) if part is None else part
    rows = (notes.part == lead) & (notes.onset_ticks >= 0)
    if lead is None or not rows.any():
        return out
    out["lead_part"] = notes.part_names[lead]
    out["lead_line_bars"] = line_bar_share(notes.onset_ticks[rows], notes.end_ticks[rows])
    pitch, on, end = melody_line(notes.pitch[rows], notes.onset_ticks[rows], notes.end_ticks[rows])
    moves = np.abs(np.diff(pitch))
    if len(moves):
        out |= {"lead_steps": float(np.mean(moves <= STEP_MAX_SEMITONES)), "lead_leaps": float(np.mean(moves >= LEAP_MIN_SEMITONES)),
                "lead_mean_interval": float(moves.mean())}
    low, high = np.percentile(pitch, RANGE_PERCENTILES)
    out |= {"lead_range": float(high - low), "lead_range_full": int(pitch.max() - pitch.min())}
    out["lead_motif_notes"] = longest_motif(pitch, on)
    span_bars = -(-int(end.max()) // TICKS_PER_BAR) - int(on.min()) // TICKS_PER_BAR
    out["lead_phrase_ends_per_8_bars"] = float(phrase_ends(on, end).sum() * 8 / span_bars)
    out["lead_chord_tones"] = chord_tone_ratio(on / TICKS_PER_BEAT, pitch, *harmony(notes))
    return out


def max_voices(onset16: np.ndarray, end16: np.ndarray) -> int:
    """The most notes sounding on one 16th (``onset16 <= t < end16``)."""
    if not len(onset16):
        return 0
    low = int(onset16.min())
    count = np.zeros(int(end16.max()) - low + 1, np.int64)
    np.add.at(count, onset16 - low, 1)
    np.add.at(count, end16 - low, -1)
    return int(np.cumsum(count).max())


def cluster_share(pitch: np.ndarray, onset16: np.ndarray, end16: np.ndarray) -> float | None:
    """Share of the onset 16ths at which two sounding notes lie a semitone apart; None without notes."""
    if not len(pitch):
        return None
    clusters = []
    for tick in np.unique(onset16).tolist():
        sounding = np.unique(pitch[(onset16 <= tick) & (end16 > tick)])
        clusters.append(bool(np.any(np.diff(sounding) == 1)))
    return float(np.mean(clusters))


def strings_metrics(notes: Notes) -> dict[str, float | None]:
    """The strings' role metrics (module doc); None without strings."""
    rows = notes.of_family("strings")
    if not rows.any():
        return dict.fromkeys(ROLE_METRICS[:5])
    pitch, on, end = notes.pitch[rows], notes.onset_ticks[rows], notes.end_ticks[rows]
    return {
        "strings_long_share": float(np.mean(end - on >= LONG_NOTE_16THS)),
        "strings_max_voices": max_voices(on, end),
        "strings_cluster_share": cluster_share(pitch, on, end),
        "strings_outside_range": float(np.mean((pitch < STRINGS_RANGE[0]) | (pitch > STRINGS_RANGE[1]))),
        "strings_range": int(pitch.max() - pitch.min()),
    }


def guitar_metrics(notes: Notes) -> dict[str, float | None]:
    """The guitar's role metrics (module doc); None without guitar."""
    rows = notes.of_family("guitar")
    if not rows.any():
        return dict.fromkeys(ROLE_METRICS[5:8])
    pitch, on = notes.pitch[rows], notes.onset_ticks[rows]
    piano = notes.of_family("piano")
    piano_notes = set(zip(notes.onset_ticks[piano].tolist(), notes.pitch[piano].tolist(), strict=True))
    return {
        "guitar_outside_range": float(np.mean((pitch < GUITAR_RANGE[0]) | (pitch > GUITAR_RANGE[1]))),
        "guitar_doubling_piano": float(np.mean([(t, p) in piano_notes for t, p in zip(on.tolist(), pitch.tolist(), strict=True)])),
        "guitar_notes_per_bar": len(on) / len(np.unique(on // TICKS_PER_BAR)),
    }


def velocity_metrics(notes: Notes) -> dict[str, Any]:
    """``same_velocity_share`` and ``velocity_by_family`` (module doc)."""
    on = notes.onset_ticks
    shared = []
    for tick in np.unique(on).tolist():
        here = on == tick
        if len(np.unique(notes.part[here])) >= 2:
            shared.append(len(np.unique(notes.velocity[here])) == 1)
    families = np.array(notes.part_families())[notes.part]
    by_family = {name: float(notes.velocity[families == name].mean()) for name in dict.fromkeys(families.tolist())}
    for name, pitches in (("kick", KICKS), ("snare", SNARES), ("hi-hat", HATS)):
        rows = notes.is_drum & np.isin(notes.pitch, pitches)
        if rows.any():
            by_family[name] = float(notes.velocity[rows].mean())
    return {"same_velocity_share": float(np.mean(shared)) if shared else None, "velocity_by_family": by_family}


def role_metrics(notes: Notes) -> dict[str, Any]:
    """Every role metric of one piece (module doc), keyed by name."""
    return {**strings_metrics(notes), **guitar_metrics(notes), **velocity_metrics(notes)}
