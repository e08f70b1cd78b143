import dataclasses

import numpy as np
import pytest

from cmtlite.controls import Section
from cmtlite.errors import ConfigError
from cmtlite.music.composer import Form, compose_score
from cmtlite.music.grammar import constant_controls
from cmtlite.music.parts import BACKBEAT, FILLS
from cmtlite.music.plan import make_plan
from cmtlite.tokens.chords import Key, chord_pitch_classes
from cmtlite.tokens.codec import make_score
from cmtlite.tokens.vocab import BASS, CRASHES, DRUMS, KICKS, PIANO, STRINGS, TOMS

N_BARS = 16
SECTIONS = tuple(Section(start_bar=b, label=label) for b, label in ((0, "A"), (4, "B"), (8, "A"), (12, "B")))


def _raw(seed=0, n_bars=N_BARS):
    """Noodling on purpose: every bar a new random drum bar, piano figure, bass line and strings."""
    rng = np.random.default_rng(seed)
    rows = []
    for bar in range(n_bars):
        base = bar * 16
        for tick in rng.choice(16, size=6, replace=False):
            rows.append([DRUMS, int(rng.choice([36, 38, 42, 42, 46, 49])), base + int(tick), 1])
        for tick in rng.choice(16, size=5, replace=False):
            rows.append([PIANO, int(rng.integers(55, 75)), base + int(tick), int(rng.integers(1, 4))])
        for tick in rng.choice(16, size=3, replace=False):
            rows.append([BASS, int(rng.integers(33, 47)), base + int(tick), 2])
        rows.append([STRINGS, int(rng.integers(60, 72)), base, 8])
    return np.array(rows, np.int64)


def _compose(notes=None, *, density=None, variation=0.0, sections=SECTIONS, cut_ticks=(), end_tick=None, hit_ticks=(), seed=0, bars=None):
    plan = make_plan(Key(0, "maj"), sections, N_BARS, seed=1)
    controls = constant_controls(N_BARS, density=density, strength=None, plan=plan)
    if len(hit_ticks):
        controls = dataclasses.replace(controls, hit_ticks=np.asarray(hit_ticks, np.int64))
    raw, _ = make_score(_raw() if notes is None else notes, tempo_bpm=100, n_bars=N_BARS, chords=controls.chords)
    form = Form(sections=sections, cut_ticks=np.asarray(cut_ticks, np.int64), end_tick=end_tick, variation=variation, seed=seed)
    return compose_score(raw, controls, form, bars=bars), controls, raw


def _bar(notes, bar, family=None):
    rows = notes[(notes[:, 2] >= bar * 16) & (notes[:, 2] < (bar + 1) * 16)]
    return rows if family is None else rows[rows[:, 0] == family]


def _events(rows, pitches=None):
    rows = rows if pitches is None else rows[np.isin(rows[:, 1], pitches)]
    return {(int(t) % 16, int(p)) for _, p, t, _ in rows.tolist()}


def test_the_groove_holds_through_a_section_and_crashes_mark_only_the_form():
    score, _, _ = _compose()
    notes = score.notes
    kick_snare = KICKS + BACKBEAT
    for first in (0, 4):
        patterns = [_events(_bar(notes, b, DRUMS), kick_snare) for b in range(first, first + 3)]  # the 4th bar has the fill
        assert patterns[0] and all(p == patterns[0] for p in patterns)
    crash_bars = sorted({int(t) // 16 for _, p, t, _ in notes[(notes[:, 0] == DRUMS) & np.isin(notes[:, 1], CRASHES)].tolist()})
    assert crash_bars == [4, 8, 12, 15]  # every section start after the first, and the final chord


def test_the_bar_before_a_section_change_ends_on_a_fill():
    score, _, _ = _compose()
    for bar in (3, 7, 11):
        last_beat = _bar(score.notes, bar, DRUMS)
        last_beat = last_beat[last_beat[:, 2] % 16 >= 12]
        assert np.isin(last_beat[:, 1], BACKBEAT + TOMS).sum() >= 3
        assert _events(last_beat) & {(t, p) for fill in FILLS for t, p in fill}


def test_the_bass_locks_to_the_kick_and_plays_the_root_at_every_chord_change():
    score, controls, _ = _compose()
    notes, chords = score.notes, controls.chords
    kicks = set(notes[(notes[:, 0] == DRUMS) & np.isin(notes[:, 1], KICKS), 2].tolist())
    bass = notes[notes[:, 0] == BASS]
    changes = set(np.flatnonzero(np.diff(chords, prepend=-1)).tolist())
    for tick in bass[:, 2].tolist():
        assert tick in kicks or tick in changes or tick % 16 >= 12  # the approach into the next section sits in the last beat
    for tick in changes:
        if tick < 15 * 16:  # the final bar holds the tonic
            at = bass[bass[:, 2] == tick]
            assert len(at) and at[0, 1] % 12 == chord_pitch_classes(int(chords[tick]))[0], tick


def test_a_returning_section_replays_its_first_time_and_other_labels_differ():
    score, _, _ = _compose(variation=0.0)
    notes = score.notes
    for offset in range(3):
        for family in (DRUMS, PIANO, BASS, STRINGS):
            first, again = _events(_bar(notes, offset, family)), _events(_bar(notes, 8 + offset, family))
            first, again = ({e for e in s if family != DRUMS or e[1] not in CRASHES} for s in (first, again))
            assert first == again, (family, offset)
    a_piano = set().union(*(_events(_bar(notes, b, PIANO)) for b in range(4)))
    b_piano = set().union(*(_events(_bar(notes, b, PIANO)) for b in range(4, 8)))
    assert len(a_piano & b_piano) < 0.5 * len(a_piano | b_piano)


def test_variation_changes_a_return_by_a_seeded_amount():
    literal, _, _ = _compose(variation=0.0)
    varied, _, _ = _compose(variation=1.0, seed=3)
    again, _, _ = _compose(variation=1.0, seed=3)
    np.testing.assert_array_equal(varied.notes, again.notes)
    first = set().union(*(_events(_bar(varied.notes, b, PIANO)) for b in range(3)))
    ret = set().union(*(_events(_bar(varied.notes, 8 + b, PIANO)) for b in range(3)))
    assert ret != first
    assert not np.array_equal(literal.notes, varied.notes)


def test_each_bar_gets_its_density_and_every_hit_an_onset():
    hits = [16 * 2 + 5, 16 * 6 + 11, 16 * 9 + 3]
    score, _, _ = _compose(density=6, hit_ticks=hits)
    onsets = set(score.notes[:, 2].tolist())
    assert all(tick in onsets for tick in hits)
    counts = [len({t for t in onsets if b * 16 <= t < (b + 1) * 16}) for b in range(15)]
    assert sum(c == 6 for c in counts) >= 12  # fills and hits may add an onset or two


def test_the_piece_ends_on_the_tonic_held_in_every_part():
    score, controls, _ = _compose()
    final = score.notes[score.notes[:, 2] == 15 * 16]
    tonic = set(chord_pitch_classes(int(controls.chords[-1])))
    for family in (PIANO, BASS, STRINGS):
        part = final[final[:, 0] == family]
        assert len(part) and all(p % 12 in tonic for p in part[:, 1]) and (part[:, 3] >= 8).all()
    assert not (score.notes[:, 2] > 15 * 16).any() or set(score.notes[score.notes[:, 2] > 15 * 16, 0]) <= {DRUMS}


def test_a_video_that_ends_early_in_its_last_bar_ends_two_beats_sooner():
    score, _, _ = _compose(end_tick=15 * 16 + 3)
    final = score.notes[score.notes[:, 2] == 14 * 16 + 8]
    assert {PIANO, BASS, STRINGS} <= set(final[:, 0].tolist())


def test_a_cut_inside_a_section_gets_a_crash_only_away_from_other_crashes():
    score, _, _ = _compose(cut_ticks=[16 * 5 + 4, 16 * 2 + 8], sections=(Section(start_bar=0, label="A"), Section(start_bar=4, label="B")))
    crashes = set(score.notes[(score.notes[:, 0] == DRUMS) & np.isin(score.notes[:, 1], CRASHES), 2].tolist())
    assert 16 * 2 + 8 not in crashes or 16 * 4 in crashes  # section B's crash is 1.5 bars away from the first cut
    assert 16 * 5 + 4 not in crashes


def test_composing_bars_keeps_every_note_outside_them():
    score, controls, _ = _compose()
    again, _, _ = _compose(notes=score.notes, bars=(5, 6))
    outside = lambda n: n[(n[:, 2] < 5 * 16) | (n[:, 2] >= 7 * 16)]  # noqa: E731
    np.testing.assert_array_equal(outside(again.notes), outside(score.notes))


def test_the_form_is_checked():
    with pytest.raises(ConfigError, match="variation"):
        Form(sections=SECTIONS, variation=1.5)
    with pytest.raises(ConfigError, match="bar 0"):
        Form(sections=(Section(start_bar=2, label="A"),))
