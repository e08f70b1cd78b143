"""Arranged POP909: chord labels -> MMA symbols, the chord beat grid, and band arrangements."""

from __future__ import annotations

import miditoolkit
import numpy as np
import pytest

from cmtlite.tokens.arrange import ChordSpan, arrange_song, beat_grid, mma_chord, read_chord_labels, seconds_to_beats
from cmtlite.tokens.chords import chord_label
from cmtlite.tokens.vocab import BASS, DRUMS, LEAD, PIANO
from tests.conftest import BEAT_S, SHARED_DIR, needs_mma, write_song

POP909 = SHARED_DIR / "data" / "pop909"

@pytest.mark.parametrize(
    ("label", "symbol"),
    [("C:maj", "C"), ("C#:min7", "C#m7"), ("Bb:maj/3", "Bb/D"), ("A:min/b3", "Am/C"), ("E:7/b7", "E7/D"), ("G:sus4(b7)", "G7sus4")]
    + [("F#:hdim7", "F#m7b5"), ("Eb:minmaj7", "EbmM7"), ("N", "z"), ("X:maj", "z"), ("D:weird", "D")],
)
def test_mma_chord_symbols(label, symbol):
    assert mma_chord(label) == symbol


def test_song_lands_on_its_chord_grid(tmp_path):
    path = write_song(tmp_path / "001")
    chords = read_chord_labels(path.with_name("chord_midi.txt"))
    beats_s, pickup = beat_grid(chords, miditoolkit.MidiFile(str(path)))
    assert pickup == 3  # the short "N" span is one beat; the first chord starts bar 1
    np.testing.assert_allclose(np.diff(beats_s[1:]), BEAT_S, atol=1e-6)
    score, stats = arrange_song(path, groove=None, seed=0)
    assert score.tempo_bpm == pytest.approx(90, abs=0.01)
    assert set(score.notes[:, 0]) == {PIANO, LEAD}  # MELODY is the lead, PIANO the piano
    melody = score.notes[score.notes[:, 0] == LEAD]
    assert (melody[:, 2] % 4 == 0).all() and len(melody) == 32  # every melody note on a beat
    assert melody[0, 2] == 16  # ... and the first chord's first beat is bar 1's downbeat
    assert 90 not in score.notes[:, 1]  # BRIDGE is not kept
    assert stats["dropped_notes"] == 0
    changes = [(tick, chord_label(value)) for tick, value in score.chord_changes()]
    assert changes[:5] == [(0, "N"), (16, "C:maj"), (32, "A:min7"), (48, "F:maj"), (64, "G:sus4")]  # labels reduced, pickup N


def test_seconds_to_beats_extrapolates_past_both_ends():
    beats = np.array([1.0, 1.5, 2.0])
    np.testing.assert_allclose(seconds_to_beats(np.array([0.5, 1.25, 2.5]), beats), [-1.0, 0.5, 3.0])


def test_bad_chord_file_names_the_line(tmp_path):
    bad = tmp_path / "chord_midi.txt"
    bad.write_text("0.0 1.0 C:maj\n1.0 oops\n")
    with pytest.raises(Exception, match="line 2"):
        read_chord_labels(bad)


def test_downbeat_follows_chord_changes():
    midi = miditoolkit.MidiFile(ticks_per_beat=480)
    midi.tempo_changes = [miditoolkit.TempoChange(120.0, 0)]
    # one beat of N, then chords every 4 beats starting on beat 1
    chords = [ChordSpan(0.0, 0.5, "N")] + [ChordSpan(0.5 + 2 * i, 2.5 + 2 * i, "C:maj") for i in range(4)]
    _, pickup = beat_grid(chords, midi)
    assert pickup == 3  # three pickup beats put beat 1 on a downbeat


@needs_mma
def test_band_arrangement_is_in_time_and_deterministic(tmp_path):
    path = write_song(tmp_path / "001")
    score, _ = arrange_song(path, groove="8beat", seed=3)
    again, _ = arrange_song(path, groove="8beat", seed=3)
    np.testing.assert_array_equal(score.notes, again.notes)
    families = set(score.notes[:, 0].tolist())
    assert {DRUMS, PIANO, BASS} <= families
    bass = score.notes[score.notes[:, 0] == BASS]
    bass_of_bar = {int(start) // 16: int(pitch) % 12 for _, pitch, start, _ in bass[::-1]}  # the first bass note of each bar
    expected = [0, 9, 9, 7]  # C, Am7, F over A, G7sus4 from bar 1 on
    assert [bass_of_bar.get(bar) for bar in range(1, 9)] == expected * 2


@needs_mma
@pytest.mark.shared
@pytest.mark.skipif(not POP909.is_dir(), reason="../shared/data/pop909 is not present")
@pytest.mark.parametrize("song", ["001", "500"])
def test_real_songs_bass_agrees_with_the_piano(song):
    score, _ = arrange_song(POP909 / song / f"{song}.mid", groove="8beat", seed=0)
    notes = score.notes
    piano, bass = notes[notes[:, 0] == PIANO], notes[notes[:, 0] == BASS]

    def agreement(shift_ticks: int) -> float:
        sounding = [piano[(piano[:, 2] <= s + shift_ticks + 2) & (piano[:, 2] + piano[:, 3] > s + shift_ticks)] for s in bass[:, 2]]
        return float(np.mean([p % 12 in set((q[:, 1] % 12).tolist()) for p, q in zip(bass[:, 1], sounding, strict=True)]))

    # the backing plays the song's harmony on the song's beats, and worse when moved off them by a beat
    assert agreement(0) > 0.85
    assert agreement(0) > max(agreement(-4), agreement(4)) + 0.05
