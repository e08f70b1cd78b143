"""Tune and role metrics pinned on hand-built MIDI whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from cmtlite.evaluate.melody import longest_motif, role_metrics, tune_metrics
from cmtlite.evaluate.notes import read_piece
from tests.conftest import SHARED_DIR, write_tracks

C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def piece(tmp_path, tracks, markers=()):
    return read_piece(write_tracks(tmp_path / "piece.mid", tracks, markers=markers))


def lead(tmp_path, notes, markers=(), name="lead"):
    return tune_metrics(piece(tmp_path, [(name, 73, False, notes), ("piano", 0, False, [(48, 0, 4)])], markers))


def test_a_scale_is_all_steps(tmp_path):
    m = lead(tmp_path, [(p, i, i + 1) for i, p in enumerate(C_MAJOR + C_MAJOR[::-1])])
    assert m["lead_part"] == "lead"
    assert m["lead_line_bars"] == 1.0
    assert m["lead_steps"] == 1.0 and m["lead_leaps"] == 0.0
    assert m["lead_mean_interval"] == pytest.approx(24 / 15)  # 12 semitones up in 7 moves, one repeated C, 12 down in 7
    assert m["lead_range_full"] == 12
    assert m["lead_range"] == pytest.approx(np.percentile(C_MAJOR + C_MAJOR, 95) - np.percentile(C_MAJOR + C_MAJOR, 5))


def test_leaps_of_more_than_a_fifth(tmp_path):
    m = lead(tmp_path, [(p, i, i + 1) for i, p in enumerate([60, 72, 60, 67, 60])])  # octave, octave, fifth, fifth
    assert m["lead_leaps"] == 0.5 and m["lead_steps"] == 0.0 and m["lead_mean_interval"] == pytest.approx(9.5)


def test_a_motif_of_eight_notes_stated_twice(tmp_path):
    motif = [(60, 0, 1), (64, 1, 1.5), (62, 1.5, 2), (65, 2, 3), (67, 3, 4), (65, 4, 4.75), (64, 4.75, 5), (60, 5, 6)]
    answer = [(p + 2, s + 8, e + 8) for p, s, e in motif]  # the same rhythm and intervals a tone higher: a sequence counts
    assert lead(tmp_path, motif + answer)["lead_motif_notes"] == 8
    tail = [(p, s + 16, e + 16) for p, s, e in [(50, 0, 1), (75, 3, 4)]]
    assert lead(tmp_path, motif + answer + tail)["lead_motif_notes"] == 8


def test_longest_motif_needs_notes_of_its_own():
    repeated = np.full(10, 60)
    assert longest_motif(repeated, np.arange(10) * 4) == 5  # ten equal notes: two disjoint runs of five
    assert longest_motif(np.array([60, 67, 61, 70]), np.array([0, 4, 6, 7])) == 1
    assert longest_motif(np.array([60]), np.array([0])) == 1 and longest_motif(np.zeros(0, int), np.zeros(0, int)) == 0


def test_phrase_ends_rests_and_held_notes(tmp_path):
    bars = [(60 + k, 4 * bar + k, 4 * bar + k + 1) for bar in range(4) for k in range(3)]  # 3 quarters and a quarter rest per bar
    assert lead(tmp_path, bars)["lead_phrase_ends_per_8_bars"] == pytest.approx(8.0)  # 4 ends in 4 bars
    held = [(60, 0, 1), (62, 1, 2), (64, 2, 4), (65, 4, 5), (67, 5, 6), (69, 6, 8)]  # half notes close two phrases; legato
    assert lead(tmp_path, held)["lead_phrase_ends_per_8_bars"] == pytest.approx(8.0)  # 2 ends in 2 bars


def test_lead_chord_tones_read_the_chord_markers(tmp_path):
    markers = ((0, "chord C:maj"), (4, "chord G:maj"))
    notes = [(60, 0, 1), (64, 1, 2), (67, 2, 3), (62, 3, 4), (67, 4, 5), (71, 5, 6), (74, 6, 7), (72, 7, 8)]  # D and C off
    assert lead(tmp_path, notes, markers)["lead_chord_tones"] == pytest.approx(6 / 8)


def test_double_stops_break_the_line(tmp_path):
    mono = [(60 + k, k, k + 1) for k in range(4)]
    chords = [(p, 4 + k, 5 + k) for k in range(4) for p in (64, 67)]
    legato = [(60 + k, 8 + k, 9.25 + k) for k in range(4)]  # overlaps of a 16th are still a line
    m = lead(tmp_path, mono + chords + legato)
    assert m["lead_line_bars"] == pytest.approx(2 / 3)
    assert m["lead_steps"] is not None  # the line keeps the top note of each double stop


def test_which_track_is_the_lead(tmp_path):
    tracks = [("Lead Guitar", 29, False, [(64, 0, 1)] * 3), ("Vocals", 53, False, [(67, 0, 1)]), ("Drums", 0, True, [(60, 0, 1)])]
    notes = piece(tmp_path, tracks)
    assert tune_metrics(notes)["lead_part"] == "Vocals"  # a vocal beats a lead guitar, though it has fewer notes
    assert notes.part_families() == ("guitar", "lead", "drums")  # the lead is no longer strings (program 53)
    assert tune_metrics(piece(tmp_path, [("Piano", 0, False, [(60, 0, 1)])]))["lead_part"] is None
    assert tune_metrics(piece(tmp_path, [("Piano", 0, False, [(60, 0, 1)])]), part=0)["lead_part"] == "Piano"


def test_strings_as_pads_and_as_stabs(tmp_path):
    pads = [(p, 4 * bar, 4 * bar + 4) for bar in range(2) for p in (48, 52, 55)]
    m = role_metrics(piece(tmp_path, [("strings", 48, False, pads)]))
    assert m["strings_long_share"] == 1.0 and m["strings_max_voices"] == 3
    assert m["strings_cluster_share"] == 0.0 and m["strings_outside_range"] == 0.0 and m["strings_range"] == 7
    stabs = [(79, 0, 0.5), (80, 0, 0.5), (91, 1, 1.5), (60, 2, 4)]  # G5+Ab5 cluster, G6 above C6, one held note
    m = role_metrics(piece(tmp_path, [("strings", 48, False, stabs)]))
    assert m["strings_long_share"] == 0.25 and m["strings_cluster_share"] == pytest.approx(1 / 3)
    assert m["strings_outside_range"] == 0.25 and m["strings_max_voices"] == 2


def test_guitar_range_doubling_and_comping(tmp_path):
    piano = [(60, 0, 1), (64, 0, 1)]
    guitar = [(60, 0, 1), (67, 0, 1), (38, 1, 2), (64, 2, 3), (64, 4, 5)]  # C4 doubles the piano; D2 under E2; 4 notes in bar 0
    m = role_metrics(piece(tmp_path, [("piano", 0, False, piano), ("guitar", 25, False, guitar)]))
    assert m["guitar_doubling_piano"] == pytest.approx(1 / 5)
    assert m["guitar_outside_range"] == pytest.approx(1 / 5)
    assert m["guitar_notes_per_bar"] == pytest.approx(5 / 2)


def test_velocities_per_part(tmp_path):
    drums = [(36, 0, 0.25, 100), (42, 0, 0.25, 60), (38, 1, 1.25, 96)]
    flat = [("drums", 0, True, drums), ("piano", 0, False, [(60, 0, 1, 100), (60, 1, 2, 96)])]
    m = role_metrics(piece(tmp_path, flat))
    assert m["same_velocity_share"] == 0.5  # 16th 0: 100 and 60 differ; 16th 4: 96 and 96 agree
    assert m["velocity_by_family"] == {"drums": pytest.approx(256 / 3), "piano": 98.0, "kick": 100.0, "snare": 96.0, "hi-hat": 60.0}
    assert role_metrics(piece(tmp_path, [("piano", 0, False, [(60, 0, 1, 90)])]))["same_velocity_share"] is None


@pytest.mark.skipif(not (SHARED_DIR / "data" / "pop909").is_dir(), reason="needs ../shared/data/pop909")
def test_a_pop909_melody_is_a_tune():
    m = tune_metrics(read_piece(SHARED_DIR / "data" / "pop909" / "100" / "100.mid"))
    assert m["lead_part"] == "MELODY"
    assert m["lead_line_bars"] > 0.9 and m["lead_leaps"] < 0.1 and m["lead_range"] <= 19 and m["lead_motif_notes"] >= 8
    assert 0.5 < m["lead_chord_tones"] < 0.95 and 1 <= m["lead_phrase_ends_per_8_bars"] <= 5
