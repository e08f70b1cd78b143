"""CP codec: controls on the tokens, grammar, and exact round trips."""

from __future__ import annotations

import numpy as np
import pytest

from cmtlite.errors import TokenGrammarError
from cmtlite.tokens.chords import chord_label, parse_chord
from cmtlite.tokens.codec import bar_densities, decode, dict_to_token, encode, grammar_errors, make_score, token_to_dict
from cmtlite.tokens.vocab import (
    BEAT,
    CHORD,
    DENSITY,
    STRENGTH,
    STRENGTH_CAP,
    TYPE,
    TYPE_METRICAL,
    TYPE_NOTE,
    VOCAB_SIZES,
    program_to_family,
)
from tests.conftest import EDGE_NOTES


def _roundtrip(notes, n_bars=None):
    score, _ = make_score(np.array(notes), tempo_bpm=97.0, n_bars=n_bars)
    tokens = encode(score)
    assert grammar_errors(tokens) == 0
    back = decode(tokens, tempo_bpm=97.0)
    np.testing.assert_array_equal(back.notes, score.notes)
    assert back.n_bars == score.n_bars
    return score, tokens


def test_edge_cases_round_trip():
    score, tokens = _roundtrip(EDGE_NOTES, n_bars=6)  # bars 4 and 5 are empty
    assert score.n_bars == 6
    bars = tokens[(tokens[:, TYPE] == TYPE_METRICAL) & (tokens[:, BEAT] == 1)]
    assert bars[:, DENSITY].tolist() == [d + 1 for d in [1, 2, 0, 1, 0, 0]]


def test_density_and_strength_are_carried():
    notes = [[1, 60, t, 1] for t in (0, 4, 8, 12)] + [[1, 64, 0, 1], [0, 36, 0, 1]]
    score, tokens = _roundtrip(notes)
    assert bar_densities(score).tolist() == [4]
    positions = tokens[(tokens[:, TYPE] == TYPE_METRICAL) & (tokens[:, BEAT] > 1)]
    assert (positions[:, STRENGTH] - 1).tolist() == [3, 1, 1, 1]


def test_strength_is_capped():
    score, tokens = _roundtrip([[1, p, 0, 1] for p in range(40, 70)])
    assert tokens[1, STRENGTH] - 1 == STRENGTH_CAP


def test_duplicates_merged_and_long_notes_clipped():
    score, stats = make_score(np.array([[1, 60, 0, 2], [1, 60, 0, 5], [2, 50, 0, 500]]), tempo_bpm=100)
    assert stats == {"clipped_durations": 1, "merged_duplicates": 1}
    assert score.notes.tolist() == [[1, 60, 0, 5], [2, 50, 0, 64]]


def test_random_scores_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = rng.integers(1, 200)
        notes = np.stack([rng.integers(0, 5, n), rng.integers(0, 128, n), rng.integers(0, 320, n), rng.integers(1, 65, n)], 1)
        _roundtrip(notes)


def test_grammar_errors_are_counted():
    score, _ = make_score(np.array([[1, 60, 0, 4], [1, 62, 4, 4]]), tempo_bpm=100)
    tokens = encode(score)
    assert grammar_errors(tokens[:-1]) == 1  # no EOS
    assert grammar_errors(tokens[1:]) >= 1  # a position before any bar
    broken = tokens.copy()
    broken[2, 4] = VOCAB_SIZES[4]  # pitch out of range
    assert grammar_errors(broken) == 1
    assert decode(broken, tempo_bpm=100).notes.tolist() == [[1, 62, 4, 4]]


def test_token_dicts_round_trip_and_reject_bad_values():
    score, _ = make_score(np.array(EDGE_NOTES), tempo_bpm=100)
    for row in encode(score):
        np.testing.assert_array_equal(dict_to_token(token_to_dict(row)), row)
    for bad in (
        {"type": "note", "pitch": 128},
        {"type": "nope"},
        {"pitch": 3},
        {"type": "note", "instrument": "kazoo"},
        {"type": "metrical", "beat": 16},
        {"type": "metrical", "beat": -1},
        {"type": "metrical", "density": -1},
        {"type": "note", "duration": 0},
        {"type": "note", "colour": 1},
    ):
        with pytest.raises(TokenGrammarError):
            dict_to_token(bad)


@pytest.mark.parametrize(
    ("program", "is_drum", "family"),
    [
        (0, True, 0),
        (0, False, 1),
        (19, False, 1),
        (25, False, 2),
        (33, False, 3),
        (48, False, 4),
        (89, False, 4),
        (56, False, None),
        (73, False, None),
        (120, False, None),
    ],
)
def test_program_families(program, is_drum, family):
    assert program_to_family(program, is_drum=is_drum) == family


def test_chords_ride_on_every_token_and_round_trip():
    chords = np.zeros(64, np.int64)
    chords[0:24], chords[24:40], chords[40:] = parse_chord("C:maj"), parse_chord("A:min7"), parse_chord("G:7")
    score, _ = make_score(np.array(EDGE_NOTES), tempo_bpm=97.0, chords=chords)
    tokens = encode(score)
    back = decode(tokens, tempo_bpm=97.0)
    np.testing.assert_array_equal(encode(back), tokens)
    metrical = tokens[:, TYPE] == TYPE_METRICAL
    ticks = np.where(tokens[metrical, BEAT] == 1, 0, tokens[metrical, BEAT] - 2)
    bar_of = np.cumsum(tokens[metrical, BEAT] == 1) - 1
    assert (tokens[metrical, CHORD] - 1).tolist() == chords[bar_of * 16 + ticks].tolist()
    for row in np.flatnonzero(tokens[:, TYPE] == TYPE_NOTE):  # a note carries its position's chord
        position = max(r for r in np.flatnonzero(metrical) if r < row)
        assert tokens[row, CHORD] == tokens[position, CHORD]
    # no onset on tick 24: the tokens show the change at the next metrical token, bar 2's
    assert [(t, chord_label(v)) for t, v in back.chord_changes()][:2] == [(0, "C:maj"), (32, "A:min7")]


def test_chord_in_token_dicts():
    score, _ = make_score(np.array([[1, 60, 0, 4]]), tempo_bpm=100, chords=np.full(16, parse_chord("F#:dim")))
    rows = [token_to_dict(row) for row in encode(score)]
    assert rows[0]["chord"] == "F#:dim" and rows[-1] == {"type": "eos"}
    np.testing.assert_array_equal(np.stack([dict_to_token(r) for r in rows]), encode(score))
    with pytest.raises(TokenGrammarError, match="chord"):
        dict_to_token({"type": "metrical", "beat": "bar", "chord": "H:maj"})
