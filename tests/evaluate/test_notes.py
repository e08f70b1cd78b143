"""Reading a MIDI file for evaluation: parts, velocities, sections, chords, and POP909 on its labels' grid."""

from __future__ import annotations

import numpy as np
import pytest

from cmtlite.evaluate.notes import harmony, read_piece, read_pop909, sections
from cmtlite.tokens.chords import parse_chord
from tests.conftest import write_song, write_tracks


def test_tracks_of_one_name_and_program_are_one_part(tmp_path):
    tracks = [("piano", 0, False, [(60, 0, 4, 70)]), ("piano", 0, False, [(60, 1, 2, 80)]), ("Gtr", 27, False, [(64, 0, 1)]),
              ("Gtr", 28, False, [(64, 2, 3)]), ("", 48, False, [(72, 0, 8)]), ("", 0, True, [(36, 0, 0.25)])]
    notes = read_piece(write_tracks(tmp_path / "a.mid", tracks))
    assert notes.part_names == ("piano", "Gtr (27)", "Gtr (28)", "program 48", "drums")
    assert notes.part_families() == ("piano", "guitar", "guitar", "strings", "drums")
    assert sorted(notes.velocity[notes.part == 0].tolist()) == [70, 80]
    assert notes.n_bars == 2


def test_sections_from_markers(tmp_path):
    markers = ((0, "section A"), (8, "section B"), (20, "section A"), (20.25, "chord C:maj"))
    notes = read_piece(write_tracks(tmp_path / "a.mid", [("piano", 0, False, [(60, 0, 27)])], markers=markers))
    assert sections(notes) == [(0, 2, "A"), (2, 3, "B"), (5, 2, "A")]  # 27 beats: 7 bars
    assert harmony(notes)[1].tolist() == [parse_chord("C:maj")]
    assert sections(read_piece(write_tracks(tmp_path / "b.mid", [("piano", 0, False, [(60, 0, 1)])]))) == []


def test_chords_are_recognized_without_markers(tmp_path):
    triads = [(p, 4 * bar, 4 * bar + 4) for bar, chord in enumerate([(60, 64, 67), (57, 60, 64)]) for p in chord]
    starts, values = harmony(read_piece(write_tracks(tmp_path / "a.mid", [("piano", 0, False, triads)])))
    assert starts.tolist() == [0.0, 4.0]
    assert values.tolist() == [parse_chord("C:maj"), parse_chord("A:min")]


def test_pop909_reads_on_its_labels_grid(tmp_path):
    song = write_song(tmp_path / "001")
    notes = read_pop909(song)
    assert read_piece(song).part_names == notes.part_names == ("MELODY", "BRIDGE", "PIANO")
    assert notes.part_families() == ("lead", "piano", "piano")
    melody = notes.part == 0
    # The labels' first chord starts a beat after an N: bar 0 is a pickup bar of N, the song's first downbeat is bar 1.
    assert np.allclose(notes.start_beats[melody], np.arange(4, 36), atol=0.01)  # a melody note on every beat
    starts, values = harmony(notes)
    assert starts.tolist() == [0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0, 32.0]
    assert values[:5].tolist() == [parse_chord(c) for c in ("N", "C:maj", "A:min7", "F:maj", "G:sus4")]


def test_a_file_without_notes_is_refused(tmp_path):
    from cmtlite.errors import MidiReadError

    with pytest.raises(MidiReadError, match="no notes"):
        read_piece(write_tracks(tmp_path / "a.mid", [("piano", 0, False, [])]))
