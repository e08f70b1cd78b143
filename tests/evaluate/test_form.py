"""Groove and form metrics pinned on hand-built MIDI whose answers are known."""

from __future__ import annotations

import pytest

from cmtlite.evaluate.form import bar_repetition, bass_at_chord_changes, bass_on_kick, block_match, drum_metrics, form_metrics
from cmtlite.evaluate.notes import read_piece
from tests.conftest import SHARED_DIR, write_tracks

HAT, KICK, SNARE, TOM, CRASH = 42, 36, 38, 45, 49


def rock_bar(bar: int, *, fill: bool = False) -> list[tuple]:
    """Kick on beats 1 and 3, snare on 2 and 4, eighth hats; a fill puts snare and toms on the 16ths of beats 3-4."""
    b = 4 * bar
    notes = [(KICK, b, b + 0.25), (SNARE, b + 1, b + 1.25)] + [(HAT, b + k / 2, b + k / 2 + 0.25) for k in range(8)]
    if fill:
        return notes + [(SNARE if k % 2 else TOM, b + 2 + k / 4, b + 2 + k / 4 + 0.25) for k in range(8)]
    return notes + [(KICK, b + 2, b + 2.25), (SNARE, b + 3, b + 3.25)]


def piece(tmp_path, tracks, markers=()):
    return read_piece(write_tracks(tmp_path / "piece.mid", tracks, markers=markers))


def test_a_drum_loop_holds_its_pattern(tmp_path):
    drums = [note for bar in range(8) for note in rock_bar(bar)] + [(CRASH, 0, 1)]
    m = drum_metrics(piece(tmp_path, [("drums", 0, True, drums)]))
    assert m["drum_pattern_share"] == 1.0
    assert m["drum_consecutive_jaccard"] == 1.0
    assert m["crashes_per_bar"] == pytest.approx(1 / 8)
    assert m["fills_before_sections"] is None  # 8 bars: one 8-bar block, no section change


def test_a_pattern_changing_every_bar(tmp_path):
    drums = [(KICK, 4 * bar + k / 4, 4 * bar + k / 4 + 0.25) for bar in range(4) for k in (bar, bar + 4)]  # two kicks, moving
    m = drum_metrics(piece(tmp_path, [("drums", 0, True, drums)]))
    assert m["drum_pattern_share"] == pytest.approx(1 / 4)  # every bar its own pattern: the mode matches only itself
    assert m["drum_consecutive_jaccard"] == 0.0  # consecutive bars share no (kick, 16th)


def test_fills_before_marked_sections(tmp_path):
    drums = [note for bar in range(8) for note in rock_bar(bar, fill=bar == 3)]
    markers = ((0, "section A"), (16, "section B"))
    assert drum_metrics(piece(tmp_path, [("drums", 0, True, drums)], markers))["fills_before_sections"] == 1.0
    drums = [note for bar in range(8) for note in rock_bar(bar, fill=bar == 5)]  # a fill, but not before the change
    assert drum_metrics(piece(tmp_path, [("drums", 0, True, drums)], markers))["fills_before_sections"] == 0.0


def test_bass_on_the_kick(tmp_path):
    drums = [note for bar in range(4) for note in rock_bar(bar)]
    on_kicks = [(36, 4 * bar + beat, 4 * bar + beat + 1) for bar in range(4) for beat in (0, 2)]
    assert bass_on_kick(piece(tmp_path, [("drums", 0, True, drums), ("bass", 33, False, on_kicks)])) == 1.0
    half = on_kicks + [(36, 4 * bar + beat + 0.5, 4 * bar + beat + 1) for bar in range(4) for beat in (1, 3)]  # the "ands": no kick
    assert bass_on_kick(piece(tmp_path, [("drums", 0, True, drums), ("bass", 33, False, half)])) == 0.5


def test_bass_at_chord_changes(tmp_path):
    markers = tuple((4.0 * bar, f"chord {label}") for bar, label in enumerate(["C:maj", "F:maj", "G:maj", "C:maj"]))
    whole_notes = [(pitch, 4 * bar, 4 * bar + 4) for bar, pitch in enumerate([36, 41, 43, 36])]
    assert bass_at_chord_changes(piece(tmp_path, [("bass", 33, False, whole_notes)], markers)) == 1.0
    held = [(36, 0, 6), (43, 8, 12), (36, 12, 13)]  # holds C over the change to F (sounds), rests at bar 1's end, G, C
    assert bass_at_chord_changes(piece(tmp_path, [("bass", 33, False, held)], markers)) == 1.0
    late = [(36, 0, 4), (41, 4.5, 8), (43, 8.25, 12), (36, 12, 16)]  # misses the changes to F and G
    assert bass_at_chord_changes(piece(tmp_path, [("bass", 33, False, late)], markers)) == 0.5


def test_a_returning_section_and_a_different_one(tmp_path):
    a = [(60 + k, 4 * bar + k, 4 * bar + k + 1) for bar in range(2) for k in range(4)]
    b = [(70, 4 * bar + 0.5, 4 * bar + 1) for bar in range(2, 4)]
    again = [(p, s + 16, e + 16) for p, s, e in a]
    markers = ((0, "section A"), (8, "section B"), (16, "section A"))
    m = form_metrics(piece(tmp_path, [("piano", 0, False, a + b + again)], markers))
    assert m["same_label_similarity"] == 1.0
    assert m["different_label_similarity"] == 0.0
    assert m["section_lengths_bars"] == [2, 2, 2]
    assert m["min_section_bars"] == 2


def test_a_section_after_the_last_note(tmp_path):
    markers = ((0, "section A"), (4, "section B"), (8, "section A"))  # the return starts where the music has ended
    m = form_metrics(piece(tmp_path, [("piano", 0, False, [(60, 0, 1), (62, 4, 5)])], markers))
    assert m["same_label_similarity"] is None and m["different_label_similarity"] == 0.0
    assert m["section_lengths_bars"] == [1, 1, 1]


def test_a_return_played_half_the_same(tmp_path):
    a = [(60, 4 * bar, 4 * bar + 1) for bar in range(2)] + [(64, 4 * bar + 2, 4 * bar + 3) for bar in range(2)]
    again = [(60, 4 * bar, 4 * bar + 1) for bar in range(2, 4)] + [(65, 4 * bar + 2, 4 * bar + 3) for bar in range(2, 4)]
    markers = ((0, "section A"), (8, "section A"))
    m = form_metrics(piece(tmp_path, [("piano", 0, False, a + again)], markers))
    assert m["same_label_similarity"] == pytest.approx(2 / 6)  # 2 shared of 6 distinct (bar offset, 16th, pitch)
    assert m["different_label_similarity"] is None


def test_blocks_and_bar_repetition(tmp_path):
    phrase = [(60 + bar, 4 * bar, 4 * bar + 1) for bar in range(8)]  # every bar a different pitch
    notes = piece(tmp_path, [("piano", 0, False, phrase + [(p, s + 32, e + 32) for p, s, e in phrase])])
    assert block_match(notes) == 1.0  # bars 8-15 repeat bars 0-7
    assert bar_repetition(notes) == (1.0, {"piano": 1.0})  # each bar has its twin 8 bars away
    once = piece(tmp_path, [("piano", 0, False, phrase + [(p + 12, s + 32, e + 32) for p, s, e in phrase])])
    assert block_match(once) == 0.0
    assert bar_repetition(once) == (0.0, {"piano": 0.0})
    loop = piece(tmp_path, [("bass", 33, False, [(36, 4 * bar, 4 * bar + 2) for bar in range(4)])])
    assert block_match(loop) is None  # fewer than 16 bars
    assert bar_repetition(loop)[1] == {"bass": 1.0}


def test_groove_sections_without_markers_are_8_bar_blocks(tmp_path):
    drums = [note for bar in range(16) for note in rock_bar(bar, fill=bar == 7)]
    m = form_metrics(piece(tmp_path, [("drums", 0, True, drums)]))
    assert m["fills_before_sections"] == 1.0
    assert m["drum_pattern_share"] == pytest.approx(15 / 16)
    assert m["section_lengths_bars"] == [] and m["min_section_bars"] is None


@pytest.mark.skipif(not (SHARED_DIR / "data" / "lakh_sample").is_dir(), reason="needs ../shared/data/lakh_sample")
def test_a_real_band_holds_its_groove():
    m = form_metrics(read_piece(SHARED_DIR / "data" / "lakh_sample" / "Girls Just Want to Have Fun.mid"))
    assert m["drum_pattern_share"] > 0.8 and m["drum_consecutive_jaccard"] > 0.8
    assert m["bass_on_kick"] > 0.5 and m["block_match_8bar"] > 0.5 and m["bar_repetition"] > 0.6
