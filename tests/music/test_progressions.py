"""The progression library: mining POP909-style songs, degrees, the shipped library."""

from __future__ import annotations

import json

import pytest

from cmtlite.errors import ConfigError
from cmtlite.music.progressions import (
    DEGREES,
    SLOTS_PER_BAR,
    chord_degree,
    clear_in_key,
    degree_chord,
    from_tonic,
    load_progressions,
    mine_progressions,
    song_windows,
)
from cmtlite.tokens.chords import N_CHORDS, chord_label
from tests.conftest import assert_bad_input, run, write_song


def test_degrees_round_trip_in_every_key():
    for tonic in range(12):
        for value in range(1, N_CHORDS):
            assert degree_chord(chord_degree(value, tonic), tonic) == value
    assert chord_label(degree_chord("VI:min", 7)) == "E:min" and chord_label(degree_chord("bVII:maj", 9)) == "G:maj"
    assert len(DEGREES) == 12
    with pytest.raises(ValueError, match="degree"):
        degree_chord("VIII:maj", 0)


def test_mining_counts_windows_of_songs(tmp_path):
    for name in ("001", "002"):
        write_song(tmp_path / "pop909" / name)
    mode, windows = song_windows(tmp_path / "pop909" / "001" / "song.mid")
    assert len(windows[4]) == 1 and len(windows[4][0]) == 8  # bars 4-7; bars 0-3 hold the pickup's N
    assert windows[4][0][0].startswith("I:")  # rotated to open on the tonic
    library = mine_progressions(tmp_path / "pop909", tmp_path / "lib.json", quiet=True)
    assert library["songs"] == {mode: 2} and library["skipped_songs"] == 0
    kept = library["progressions"][mode]["4"]
    assert kept == ([{"degrees": list(windows[4][0]), "count": 2}] if clear_in_key(windows[4][0], mode) else [])
    assert json.loads((tmp_path / "lib.json").read_text()) == library
    with pytest.raises(ConfigError, match="no POP909 songs"):
        mine_progressions(tmp_path / "lib.json", tmp_path / "other.json", quiet=True)


def test_shipped_library_has_both_modes_and_clear_keys():
    library = load_progressions()
    assert all(len(progressions) >= 10 for progressions in library.values())
    bars = [len(p.degrees) // SLOTS_PER_BAR for progressions in library.values() for p in progressions]
    assert set(bars) <= {4, 8} and all(len(set(p.degrees)) >= 3 for progressions in library.values() for p in progressions)
    assert all(clear_in_key(p.degrees, mode) and p.degrees[0].startswith("I:") for mode, ps in library.items() for p in ps)


def test_rotation_and_key_clarity():
    assert from_tonic(("V:maj", "V:maj", "I:maj", "IV:maj")) == ("I:maj", "IV:maj", "V:maj", "V:maj")
    assert from_tonic(("II:min", "V:maj")) is None
    assert clear_in_key(("I:maj", "I:maj", "IV:maj", "V:maj"), "maj")
    assert not clear_in_key(("I:maj", "I:maj", "V:maj", "V:maj", "II:maj", "II:maj"), "maj")  # I V II: heard in V's key


def test_bad_library_files_are_refused(tmp_path):
    (tmp_path / "lib.json").write_text(json.dumps({"format": "cmtlite-progressions-1", "progressions": {"maj": {"4": [
        {"degrees": ["I:maj", "IX:maj"], "count": 1}]}, "min": {}}}))
    with pytest.raises(ConfigError, match="not a progression library"):
        load_progressions(tmp_path / "lib.json")
    with pytest.raises(ConfigError, match="not a progression library"):
        load_progressions(tmp_path / "missing.json")


def test_progressions_cli(tmp_path):
    write_song(tmp_path / "pop909" / "001")
    result = run("progressions", str(tmp_path / "pop909"), "-o", str(tmp_path / "lib.json"), "-q")
    assert result.exit_code == 0 and "1 songs" in result.output
    assert_bad_input(run("progressions", str(tmp_path / "pop909"), "-o", str(tmp_path / "lib.json")), "exists")
    assert_bad_input(run("progressions", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.json")), "no POP909 songs")
