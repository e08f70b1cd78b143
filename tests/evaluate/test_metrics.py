"""Metrics pinned on hand-built MIDI files whose values are known, and the evaluate CLI."""

from __future__ import annotations

import json
import math

import miditoolkit
import numpy as np
import pytest

from cmtlite.controls import VideoControls, write_controls
from cmtlite.evaluate import audio_hit_rate, bass_agreement, control_metrics, estimate_key, music_metrics, read_notes
from tests.conftest import SHARED_DIR, assert_bad_input, run

TPB = 480


def write(path, notes, *, tempo=120.0, drums=()):
    """notes: (pitch, start beat, end beat) on a piano; drums: the same on the drum channel."""
    midi = miditoolkit.MidiFile(ticks_per_beat=TPB)
    midi.tempo_changes = [miditoolkit.TempoChange(tempo, 0)]
    for is_drum, rows in ((False, notes), (True, drums)):
        if rows:
            track = miditoolkit.Instrument(0, is_drum=is_drum)
            track.notes = [miditoolkit.Note(90, p, round(s * TPB), round(e * TPB)) for p, s, e in rows]
            midi.instruments.append(track)
    midi.dump(str(path))
    return path


def metrics(tmp_path, notes, **kwargs):
    return music_metrics(read_notes(write(tmp_path / "x.mid", notes, **kwargs)))


def test_c_major_scale_held_one_beat_each(tmp_path):
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    m = metrics(tmp_path, [(p, i, i + 1) for i, p in enumerate(scale)])
    assert m["SC"] == 1.0
    assert m["EBR"] == 0.0  # one note per beat held for a beat
    assert m["PE"] == pytest.approx(3.0)  # 8 distinct pitches, once each
    assert m["PCE"] == pytest.approx(-(6 / 8 * math.log2(1 / 8) + 2 / 8 * math.log2(2 / 8)))  # 2 bars = one window; C twice
    assert m["IOI"] == pytest.approx(0.5)  # 120 BPM


def test_four_identical_bars_groove_and_structure(tmp_path):
    bar = [(60, 0, 1), (64, 1.5, 2), (67, 2, 3), (72, 3.75, 4)]
    m = metrics(tmp_path, [(p, s + 4 * k, e + 4 * k) for k in range(4) for p, s, e in bar])
    assert m["GPS"] == 1.0
    assert m["SI"] == pytest.approx(0.0, abs=1e-9)  # identical bars: a lag is no more similar than the background


def test_alternating_bars_have_structure_and_partial_groove(tmp_path):
    a, b = [(60, 0, 4), (64, 0, 4)], [(61, 0, 4), (66, 0, 4)]
    notes = [(p, s + 4 * k, e + 4 * k) for k in range(8) for p, s, e in (a if k % 2 == 0 else b)]
    assert metrics(tmp_path, notes)["SI"] > 0.4  # bars repeat every 2 bars, not every bar
    onsets = [(60, 0, 0.5), (60, 4, 4.5), (60, 4.25, 4.5)]  # bar 0: position 0; bar 1: positions 0 and 1
    assert metrics(tmp_path, onsets)["GPS"] == pytest.approx(1 - 1 / 16)


def test_empty_beats_and_drums(tmp_path):
    m = metrics(tmp_path, [(60, 0, 1), (60, 3, 4)])  # beats 1 and 2 are silent
    assert m["EBR"] == 0.5
    drums_only = metrics(tmp_path, [], drums=[(36, k, k + 0.25) for k in range(8)])
    assert drums_only["PE"] is None and drums_only["SC"] is None and drums_only["EBR"] == pytest.approx(0.0)
    one_bar = metrics(tmp_path, [(60, 0, 1)])
    assert one_bar["GPS"] is None and one_bar["IOI"] is None


def controls_for(densities, levels, beats, duration_s=100.0):
    bar_s = 2.0  # 120 BPM
    return VideoControls.from_json({
        "tempo_bpm": 120.0,
        "duration_s": duration_s,
        "n_bars": len(densities),
        "grid_start_s": 0.0,
        "bars": [{"index": i, "start_s": i * bar_s, "density": d} for i, d in enumerate(densities)],
        "beats": [{"index": k, "time_s": k * 0.5, "strength_level": s} for k, s in enumerate(levels)],
        "visual_beats": [{"time_s": t, "strength": s} for t, s in beats],
    })


def test_control_metrics(tmp_path):
    notes = [(60, 0, 1), (64, 0, 1), (67, 1, 2)] + [(60 + i, 4 + i / 4, 4 + i / 4 + 0.25) for i in range(8)]
    path = write(tmp_path / "x.mid", notes)
    args = ([2, 8], [2, 0, 0, 0, 1, 0, 0, 0], [(0.0, 0.9), (2.0, 0.6), (1.75, 0.2), (3.9, 0.8)])
    m = control_metrics(read_notes(path), controls_for(*args))
    assert m["density_spearman"] == pytest.approx(1.0) and m["density_mae"] == 0.0
    assert m["strength_mae"] == 0.0  # two notes on beat 0, one on beat 4
    assert m["beat_hit_rate"] == pytest.approx(2 / 3)  # 0.0 and 2.0 hit; 3.9 has no onset within 70 ms; 0.2 strength ignored
    cut = control_metrics(read_notes(path), controls_for(*args, duration_s=3.0))  # the video ends inside bar 1
    assert cut["density_mae"] == 0.0 and cut["density_spearman"] is None  # only bar 0 is measured


def test_cli_table_json_and_reference(tmp_path):
    a = write(tmp_path / "a.mid", [(60, 0, 1), (62, 1, 2), (64, 4, 5)])
    b = write(tmp_path / "b.mid", [(60, 0, 1), (61, 1, 2)])
    result = run("evaluate", a, b)
    assert result.exit_code == 0, result.output
    assert "mean" in result.output and "GPS" in result.output
    result = run("evaluate", a, "--json")
    row = json.loads(result.output.splitlines()[0])
    assert row["SC"] == 1.0 and set(row) >= {"PE", "PCE", "SC", "EBR", "IOI", "GPS", "SI"}
    reference = tmp_path / "ref"
    reference.mkdir()
    write(reference / "r.mid", [(60, 0, 1), (64, 1, 2)])
    result = run("evaluate", a, "--reference", reference)
    assert result.exit_code == 0 and "reference" in result.output and "gap" in result.output


def test_cli_bad_inputs(tmp_path):
    (tmp_path / "bad.mid").write_text("nope")
    empty = write(tmp_path / "empty.mid", [])
    good = write(tmp_path / "good.mid", [(60, 0, 1)])
    (tmp_path / "controls.json").write_text(json.dumps({"tempo_bpm": 120}))
    assert_bad_input(run("evaluate", tmp_path / "bad.mid"), "bad.mid")
    assert_bad_input(run("evaluate", empty), "no notes")
    assert_bad_input(run("evaluate", tmp_path / "missing.mid"), "missing.mid")
    assert_bad_input(run("evaluate", good, "--controls", tmp_path / "controls.json"), "controls")
    assert_bad_input(run("evaluate", good, "--reference", tmp_path / "nowhere"), "--reference")


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED_DIR / "data" / "lakh_sample").is_dir(), reason="../shared/data is not present")
def test_real_songs_are_in_plausible_ranges():
    for path in sorted((SHARED_DIR / "data" / "lakh_sample").glob("*.mid"))[:4]:
        m = music_metrics(read_notes(path))
        assert 0.7 < m["SC"] <= 1 and 3 < m["PE"] < 6 and 0 <= m["EBR"] < 0.2 and 0.5 < m["GPS"] <= 1


def test_cut_metrics_read_the_files_own_grid(tmp_path):
    path = write(tmp_path / "x.mid", [(60, k, k + 1) for k in range(8)])  # 120 BPM: beats every 0.5 s, bars every 2 s
    cuts = [(2.0, 1.0), (3.0, 1.0), (3.27, 1.0)]  # a bar line, a beat, off the grid
    controls = VideoControls.from_json({**controls_for([2, 2], [0] * 8, cuts).to_json(), "scene_cuts_s": [2.0, 3.0, 3.27]})
    m = control_metrics(read_notes(path), controls)
    assert m["cut_on_beat_rate"] == pytest.approx(2 / 3)
    assert m["cut_on_downbeat_rate"] is None  # no shot lasts two bars (4 s at 120 BPM)
    late = VideoControls.from_json({**controls.to_json(), "n_bars": 3, "bars": [{"start_s": 0.0, "density": 2}] * 3,
                                    "beats": [{"time_s": 0.0, "strength_level": 0}] * 12, "scene_cuts_s": [4.0, 5.1]})
    assert control_metrics(read_notes(path), late)["cut_on_downbeat_rate"] == 0.0  # the file has no downbeat at 4 s


def test_a_pickup_bar_is_counted_as_the_end_of_a_bar(tmp_path):
    midi = miditoolkit.MidiFile(ticks_per_beat=TPB)
    midi.tempo_changes = [miditoolkit.TempoChange(120.0, 0)]
    midi.time_signature_changes = [miditoolkit.TimeSignature(1, 4, 0), miditoolkit.TimeSignature(4, 4, TPB)]
    track = miditoolkit.Instrument(0)
    track.notes = [miditoolkit.Note(90, 60, 0, TPB), miditoolkit.Note(90, 62, TPB, 2 * TPB)]
    midi.instruments.append(track)
    midi.dump(str(tmp_path / "pickup.mid"))
    notes = read_notes(tmp_path / "pickup.mid")
    assert notes.start_beats.tolist() == [3.0, 4.0]  # the pickup note is beat 4 of bar 0; the next is bar 1's downbeat
    assert notes.downbeats_s[:2].tolist() == pytest.approx([0.0, 0.5])


def test_audio_hit_rate_hears_the_rendered_onsets(tmp_path):
    from scipy.io import wavfile

    pytest.importorskip("librosa")
    rate = 22050
    audio = np.zeros(rate * 4, np.float32)
    for t in (0.5, 1.5, 2.5):  # clicks on two of the three strong visual beats... and one off them
        start = int(t * rate)
        audio[start : start + 2000] = 0.8 * np.sin(np.arange(2000) / 3.0) * np.exp(-np.arange(2000) / 400.0)
    wav = tmp_path / "a.wav"
    wavfile.write(str(wav), rate, audio)
    controls = controls_for([2, 2], [0] * 8, [(0.5, 0.9), (1.5, 0.8), (3.3, 0.7), (2.5, 0.2)])
    assert audio_hit_rate(wav, controls) == pytest.approx(2 / 3)
    path = write(tmp_path / "x.mid", [(60, 1, 2)])
    result = run("evaluate", path, "--controls", write_controls(controls, tmp_path / "c.json", force=False), "--audio", wav, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["audio_hit_rate"] == pytest.approx(2 / 3)
    assert_bad_input(run("evaluate", path, "--audio", wav), "--audio")


def test_bass_agreement_and_key(tmp_path):
    midi = miditoolkit.MidiFile(ticks_per_beat=TPB)
    midi.tempo_changes = [miditoolkit.TempoChange(120.0, 0)]
    piano, bass = miditoolkit.Instrument(0, name="piano"), miditoolkit.Instrument(33, name="bass")
    for bar, (chord, root) in enumerate([((57, 60, 64), 45), ((53, 57, 60), 41), ((52, 56, 59), 40), ((57, 60, 64), 42)]):
        start = bar * 4 * TPB
        piano.notes += [miditoolkit.Note(80, p, start, start + 4 * TPB) for p in chord]
        half = start + 2 * TPB
        bass.notes += [miditoolkit.Note(80, root, start, half), miditoolkit.Note(80, root + 12, half, start + 4 * TPB)]
    midi.instruments = [piano, bass]
    midi.dump(str(tmp_path / "am.mid"))
    notes = read_notes(tmp_path / "am.mid")
    assert bass_agreement(notes) == pytest.approx(6 / 8)  # Am, F, E: the bass roots sound in the chord; F# under Am does not
    assert estimate_key(notes)[0] == "A:min"
    scale = write(tmp_path / "c.mid", [(p, i, i + 1) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])])
    assert estimate_key(read_notes(scale))[0] == "C:maj" and bass_agreement(read_notes(scale)) is None


def test_chord_tone_ratio_reads_the_chord_markers(tmp_path):
    midi = miditoolkit.MidiFile(ticks_per_beat=TPB)
    midi.tempo_changes = [miditoolkit.TempoChange(120.0, 0)]
    piano, bass = miditoolkit.Instrument(0, name="piano"), miditoolkit.Instrument(33, name="bass")
    piano.notes = [miditoolkit.Note(80, p, s * TPB, (s + 1) * TPB) for s, p in enumerate([60, 64, 62, 67, 65, 69, 71, 72])]
    bass.notes = [miditoolkit.Note(80, p, s * 2 * TPB, (s + 1) * 2 * TPB) for s, p in enumerate([48, 43, 41, 42])]
    midi.instruments = [piano, bass]
    midi.markers = [miditoolkit.Marker("section A", 0), miditoolkit.Marker("chord C:maj", 0), miditoolkit.Marker("chord F:maj", 4 * TPB),
                    miditoolkit.Marker("chord N", 7 * TPB), miditoolkit.Marker("chord nonsense", 6 * TPB)]
    midi.dump(str(tmp_path / "marked.mid"))
    result = music_metrics(read_notes(tmp_path / "marked.mid"))
    # C:maj beats 0-3: piano 60 64 (in) 62 (out) 67 (in), bass 48 43 (in); F:maj beats 4-6: piano 65 69 (in) 71 (out), bass 41 42
    # (F in, F# out); beat 7 (N) not counted
    assert result["chord_tone_ratio"] == pytest.approx(8 / 11)
    assert result["bass_chord_tone_ratio"] == pytest.approx(3 / 4)
    assert music_metrics(read_notes(write(tmp_path / "plain.mid", [(60, 0, 1), (64, 1, 2)])))["chord_tone_ratio"] is None
