"""Property-based tests: random note sets round-trip through the codec; random controls.json never crash."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmtlite.controls import read_controls
from cmtlite.errors import ConfigError, TokenGrammarError
from cmtlite.tokens.codec import decode, dict_to_token, encode, grammar_errors, make_score, token_to_dict
from cmtlite.tokens.vocab import FIELDS, MAX_DURATION_TICKS

notes = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 127), st.integers(0, 16 * 40 - 1), st.integers(1, MAX_DURATION_TICKS)), max_size=120
)


@settings(max_examples=150, deadline=None)
@given(notes, st.floats(30, 300))
def test_notes_round_trip(rows, tempo):
    score, _ = make_score(np.array(rows, dtype=np.int64).reshape(-1, 4), tempo_bpm=tempo)
    tokens = encode(score)
    assert grammar_errors(tokens) == 0
    back = decode(tokens, tempo_bpm=tempo)
    np.testing.assert_array_equal(back.notes, score.notes)
    assert back.n_bars == score.n_bars
    np.testing.assert_array_equal(np.stack([dict_to_token(token_to_dict(t)) for t in tokens]), tokens)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.integers(-3, 200), min_size=len(FIELDS), max_size=len(FIELDS)), max_size=60))
def test_any_token_array_decodes_without_crashing(rows):
    tokens = np.array(rows, dtype=np.int64).reshape(-1, len(FIELDS))
    score = decode(tokens, tempo_bpm=100)
    errors = grammar_errors(tokens)
    if errors == 0 and len(tokens):  # a grammatical array is a score: it survives a round trip
        np.testing.assert_array_equal(decode(encode(score), tempo_bpm=100).notes, score.notes)
    assert ((score.notes[:, 3] >= 1) & (score.notes[:, 3] <= MAX_DURATION_TICKS)).all()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
controls_like = st.fixed_dictionaries(
    {"tempo_bpm": json_values, "duration_s": json_values, "grid_start_s": json_values, "n_bars": json_values, "bars": json_values},
    optional={"beats": json_values, "visual_beats": json_values, "scene_cuts_s": json_values},
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(controls_like, json_values))
def test_controls_parsing_fails_cleanly(tmp_path, obj):
    path = tmp_path / "controls.json"
    path.write_text(json.dumps(obj))
    try:
        read_controls(path)
    except ConfigError as err:
        assert str(err).startswith(str(path))


@pytest.mark.parametrize("obj", [{"type": "note", "pitch": 128}, {"type": "metrical", "beat": 16}, {"type": "x"}, {"pitch": 3}])
def test_bad_token_dicts(obj):
    with pytest.raises(TokenGrammarError):
        dict_to_token(obj)
