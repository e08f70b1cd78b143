import numpy as np

from cmtlite.music.lead import LEAD_RANGE, lead_section, motif_of, scale_pitches
from cmtlite.music.parts import GUITAR_HIGH, GUITAR_LOW, PAD_HIGH, PAD_LOW, guitar_bar, pad_bar
from cmtlite.music.plan import scale_of
from cmtlite.tokens.chords import Key, chord_pitch_classes, parse_chord
from cmtlite.tokens.vocab import GUITAR, LEAD, PIANO

C_MAJOR = scale_of(Key(0, "maj"))
PROGRESSION = ["C:maj", "A:min", "F:maj", "G:7"] * 2


def _bars(labels):
    return [np.full(16, parse_chord(label), np.int64) for label in labels]


def _line(bars):
    return np.concatenate([b + [0, 0, 16 * i, 0] for i, b in enumerate(bars)])


def test_the_tune_is_one_singable_line_of_steps_with_phrase_ends():
    bars = lead_section([np.zeros((0, 4), np.int64)] * 8, _bars(PROGRESSION), C_MAJOR, tonic=0, previous=None, seed=4)
    line = _line(bars)
    assert (line[:, 0] == LEAD).all() and len(np.unique(line[:, 2])) == len(line)  # one note at a time
    assert line[:, 1].max() - line[:, 1].min() <= LEAD_RANGE
    moves = np.abs(np.diff(line[:, 1]))
    assert (moves <= 2).mean() >= 0.5 and (moves > 7).sum() == 0
    for end in (3, 7):  # each phrase's last bar holds a chord tone for at least two beats, then breathes
        held = bars[end][bars[end][:, 3] >= 8]
        assert len(held) == 1 and held[0, 1] % 12 in chord_pitch_classes(parse_chord(PROGRESSION[end]))
        assert held[0, 2] + held[0, 3] < 16
    assert bars[7][-1, 1] % 12 == chord_pitch_classes(parse_chord(PROGRESSION[7]))[0]  # the section's last phrase ends on the root
    strong = line[line[:, 2] % 8 == 0]
    chords = [parse_chord(PROGRESSION[t // 16]) for t in strong[:, 2]]
    assert np.mean([p % 12 in chord_pitch_classes(c) for p, c in zip(strong[:, 1], chords, strict=True)]) >= 0.9


def test_the_motif_is_stated_and_sequenced_with_its_rhythm():
    bars = lead_section([np.zeros((0, 4), np.int64)] * 4, _bars(PROGRESSION[:4]), C_MAJOR, tonic=0, previous=None, seed=1)
    assert bars[0][:, 2].tolist() == bars[1][:, 2].tolist() == bars[2][:, 2].tolist()


def test_the_models_lead_gives_the_motif():
    model = np.array([[LEAD, 64, 0, 2], [LEAD, 65, 4, 2], [LEAD, 67, 8, 2], [LEAD, 72, 9, 1], [LEAD, 65, 12, 4]], np.int64)
    motif = motif_of(model, scale_pitches(C_MAJOR), np.random.default_rng(0))
    assert motif.ticks == (0, 4, 8, 12)  # onsets closer than an 8th merge
    assert motif.steps == (0, 1, 2, 1)  # E F G F: scale steps from the first note


def test_strings_hold_pads_of_at_most_four_voices_without_clusters():
    voicing = []
    for label in ["C:maj7", "A:min7", "F:maj", "G:7"]:
        chords = np.full(16, parse_chord(label), np.int64)
        chords[8:] = parse_chord("D:min")
        bar, voicing = pad_bar(chords, voicing, centre=64)
        for start in (0, 8):
            chord = np.sort(bar[bar[:, 2] == start, 1])
            assert 1 <= len(chord) <= 4 and chord.min() >= PAD_LOW and chord.max() <= PAD_HIGH
            assert (np.diff(chord) > 1).all()
        assert (bar[:, 3] >= 8).all()


def test_the_guitar_comps_in_its_range_and_does_not_double_the_piano():
    chords = np.full(16, parse_chord("E:min"), np.int64)
    thin = np.array([[GUITAR, 88, 0, 4]], np.int64)
    piano = np.array([[PIANO, 52, 0, 4]], np.int64)
    bar = guitar_bar(thin, chords, piano)
    assert len(bar) >= 4 and bar[:, 1].min() >= GUITAR_LOW and bar[:, 1].max() <= GUITAR_HIGH
    assert not {(int(p), int(t)) for p, t in bar[:, [1, 2]]} & {(52, 0)}
