"""The printed score: positions, pitch names, lengths, velocities, markers; the ``cmtlite score`` command."""

from __future__ import annotations

import pytest

from cmtlite.errors import ConfigError
from cmtlite.evaluate.notes import read_piece
from cmtlite.evaluate.score import format_score, length_text, parse_bars, position
from tests.conftest import assert_bad_input, run, write_song, write_tracks

MARKERS = ((0, "section A"), (0, "chord C:maj"), (2.5, "chord G:7"), (4, "section B"), (4, "chord A:min"))


def song(tmp_path):
    lead = [(61, 0, 1, 100), (64, 1, 1.75, 96), (67, 6.25, 8, 90)]
    piano = [(48, 0, 4, 60), (52, 0, 4, 60), (55, 0, 2, 64)]
    drums = [(36, 0, 0.25, 110), (38, 9, 9.25, 100)]
    tracks = [("lead", 73, False, lead), ("piano", 0, False, piano), ("drums", 0, True, drums)]
    return write_tracks(tmp_path / "song.mid", tracks, markers=MARKERS)


def test_positions_and_lengths():
    assert position(0) == "0.1.1" and position(5) == "0.2.2" and position(16 * 3 + 15) == "3.4.4"
    assert [length_text(n) for n in (1, 3, 4, 6, 8)] == ["1/16", "3/16", "1 beat", "6/16", "2 beats"]
    assert parse_bars("0-7") == (0, 7) and parse_bars("3") == (3, 3)
    for bad in ("7-3", "-1", "a-b", ""):
        with pytest.raises(ConfigError, match="FIRST-LAST"):
            parse_bars(bad)


def test_a_score_per_track_with_its_markers(tmp_path):
    text = format_score(read_piece(song(tmp_path)), bars=(0, 1))
    lines = text.splitlines()
    assert lines[0].startswith("bars 0-1 of 3")
    assert "lead (lead, program 73)" in lines and "piano (piano, program 0)" in lines and "drums (drums, program 0)" in lines
    assert "  bar 0  section A  C:maj@1.1  G:7@3.3" in lines
    assert "  bar 1  section B  A:min@1.1" in lines
    assert "    0.1.1    1 beat    v100  C#4" in lines
    assert "    0.2.1    3/16      v96   E4" in lines
    assert "    1.3.2    7/16      v90   G4" in lines
    assert "    0.1.1    1 bar" not in text and "    0.1.1    4 beats   v60   C3, E3" in lines  # one line per onset, length, velocity
    assert "    0.1.1    1/16      v110  Acoustic Bass Drum (35)" not in lines and "    0.1.1    1/16      v110  Bass Drum 1 (36)" in lines
    assert text.count("(rest)") == 2  # piano and drums rest in bar 1


def test_tracks_by_name_or_family(tmp_path):
    text = format_score(read_piece(song(tmp_path)), bars=(1, 2), parts=("LEAD", "drums"))
    assert "lead (lead" in text and "drums (drums" in text and "piano (" not in text
    with pytest.raises(ConfigError, match=r"no track bass: the file has lead \(lead\), piano \(piano\), drums \(drums\)"):
        format_score(read_piece(song(tmp_path)), parts=("bass",))
    with pytest.raises(ConfigError, match="3 bars"):
        format_score(read_piece(song(tmp_path)), bars=(3, 5))


def test_the_score_command(tmp_path):
    path = song(tmp_path)
    result = run("score", path, "--bars", "0-1", "--tracks", "lead,piano")
    assert result.exit_code == 0, result.output
    assert "C#4" in result.output and "C3, E3" in result.output and "Bass Drum" not in result.output
    assert "bars 0-2 of 3" in run("score", path, "--bars", "0-9").output  # clipped to the piece
    assert_bad_input(run("score", path, "--bars", "5-2"), "--bars")
    assert_bad_input(run("score", path, "--tracks", "banjo"), "banjo")
    assert_bad_input(run("score", path, "--bars", "7"), "3 bars")
    assert_bad_input(run("score", tmp_path / "missing.mid"), "missing.mid")
    broken = write_song(tmp_path / "pop")
    (tmp_path / "pop" / "chord_midi.txt").write_text("0.0 oops\n")
    assert_bad_input(run("score", broken), "chord_midi.txt", "line 1")
