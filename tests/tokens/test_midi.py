"""MIDI I/O: tick-exact round trips on real and synthetic files, tempo, CLI."""

from __future__ import annotations

import json

import miditoolkit
import numpy as np
import pytest

from cmtlite.tokens.chords import chord_label
from cmtlite.tokens.codec import make_score
from cmtlite.tokens.midi import read_midi, write_midi
from cmtlite.tokens.vocab import DRUMS, LEAD, PIANO, STRINGS
from tests.conftest import EDGE_NOTES, SHARED_DIR, assert_bad_input, run

LAKH = sorted((SHARED_DIR / "data" / "lakh_sample").glob("*.mid"))


def test_file_round_trip_with_tempo_and_programs(tmp_path):
    score, _ = make_score(np.array(EDGE_NOTES), tempo_bpm=93.5)
    write_midi(score, tmp_path / "x.mid")
    back, stats = read_midi(tmp_path / "x.mid")
    np.testing.assert_array_equal(back.notes, score.notes)
    assert back.tempo_bpm == pytest.approx(93.5)
    midi = miditoolkit.MidiFile(str(tmp_path / "x.mid"))
    assert any(t.is_drum for t in midi.instruments)
    assert {t.program for t in midi.instruments if not t.is_drum} == {0, 25, 33, 48}
    assert len({n.velocity for t in midi.instruments for n in t.notes}) > 1  # velocities follow strength


def test_other_resolution_is_quantized(tmp_path):
    midi = miditoolkit.MidiFile(ticks_per_beat=96)
    piano = miditoolkit.Instrument(program=0)
    piano.notes = [miditoolkit.Note(80, 60, 0, 96), miditoolkit.Note(80, 62, 26, 50)]  # 26/24 ticks rounds to tick 1
    midi.instruments = [piano, miditoolkit.Instrument(program=60)]  # a brass track is dropped
    midi.instruments[1].notes = [miditoolkit.Note(80, 70, 0, 96)]
    midi.dump(str(tmp_path / "r.mid"))
    score, stats = read_midi(tmp_path / "r.mid")
    assert score.notes.tolist() == [[1, 60, 0, 4], [1, 62, 1, 1]]
    assert stats["dropped_tracks"] == 1 and stats["dropped_notes"] == 1
    assert score.tempo_bpm == 120.0


@pytest.mark.shared
@pytest.mark.parametrize("path", LAKH, ids=[p.stem[:20] for p in LAKH])
def test_real_multitrack_round_trip(path, tmp_path):
    score, _ = read_midi(path)
    write_midi(score, tmp_path / "x.mid")
    back, _ = read_midi(tmp_path / "x.mid")
    np.testing.assert_array_equal(back.notes, score.notes)
    assert len(np.unique(score.notes[:, 0])) >= 2


def test_tokens_cli_round_trip(tmp_path):
    score, _ = make_score(np.array(EDGE_NOTES), tempo_bpm=110)
    write_midi(score, tmp_path / "in.mid")
    assert run("tokens", tmp_path / "in.mid", "-o", tmp_path / "t.jsonl").exit_code == 0
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    assert header["tempo_bpm"] == 110 and header["ticks_per_beat"] == 4 and header["n_bars"] == 4
    assert json.loads(lines[-1]) == {"type": "eos"}
    assert run("detokenize", tmp_path / "t.jsonl", "-o", tmp_path / "out.mid", "--tempo", "90").exit_code == 0
    back, _ = read_midi(tmp_path / "out.mid")
    np.testing.assert_array_equal(back.notes, score.notes)
    assert back.tempo_bpm == pytest.approx(90)


def test_tokens_cli_bad_inputs(tmp_path):
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    assert_bad_input(run("tokens", tmp_path / "bad.mid"), "bad.mid")
    assert_bad_input(run("tokens", tmp_path / "missing.mid"), "missing.mid")
    (tmp_path / "t.jsonl").write_text('{"tempo_bpm": 100}\n{"type": "note", "pitch": 300}\n')
    assert_bad_input(run("detokenize", tmp_path / "t.jsonl", "-o", tmp_path / "o.mid"), "line 2", "pitch")
    (tmp_path / "h.jsonl").write_text('{"tempo_bpm": -1}\n')
    assert_bad_input(run("detokenize", tmp_path / "h.jsonl", "-o", tmp_path / "o.mid"), "tempo_bpm")
    assert not (tmp_path / "o.mid").exists()


def test_chord_markers_are_read_back_and_plain_files_recognized(tmp_path):
    notes = np.array([[1, p, t, 8] for t, chord in ((0, (60, 64, 67)), (8, (57, 60, 64)), (16, (53, 57, 60)), (24, (55, 59, 62)))
                      for p in chord])
    score, _ = make_score(notes, tempo_bpm=100)
    write_midi(score, tmp_path / "plain.mid")
    recognized, _ = read_midi(tmp_path / "plain.mid")
    assert [chord_label(v) for _, v in recognized.chord_changes()] == ["C:maj", "A:min", "F:maj", "G:maj"]
    write_midi(score, tmp_path / "marked.mid", markers=[(0.0, "section A"), (0.0, "chord D:min7"), (1.2, "chord E:7"),
                                                        (1.5, "chord bad-label")])
    marked, _ = read_midi(tmp_path / "marked.mid")
    assert [(t, chord_label(v)) for t, v in marked.chord_changes()] == [(0, "D:min7"), (8, "E:7")]  # 1.2 s = tick 8 at 100 BPM


def test_parts_have_their_own_dynamics_and_the_humanisation_is_seeded(tmp_path):
    notes = [[DRUMS, 36, 0, 1], [DRUMS, 42, 0, 1], [PIANO, 60, 0, 4], [STRINGS, 64, 0, 16], [LEAD, 72, 0, 4]]
    score, _ = make_score(np.array(notes), tempo_bpm=120, n_bars=1)
    velocity = {}
    for seed in (0, 0, 1):
        write_midi(score, tmp_path / f"{seed}.mid", seed=seed)
        midi = miditoolkit.MidiFile(str(tmp_path / f"{seed}.mid"))
        got = {(t.name, n.pitch): n.velocity for t in midi.instruments for n in t.notes}
        assert velocity.setdefault(seed, got) == got
    v = velocity[0]
    assert v[("lead", 72)] > v[("piano", 60)] > v[("strings", 64)]
    assert v[("drums", 36)] > v[("drums", 42)]
    assert velocity[1] != velocity[0]
