"""Render stage: soundfont resolution, FluidSynth rendering, length, fade and loudness."""

from __future__ import annotations

import time

import miditoolkit
import numpy as np
import pyloudnorm
import pytest

from cmtlite.audio.render import (
    SAMPLE_RATE,
    SOUNDFONT_ENV,
    TAIL_S,
    fit_length,
    normalize_loudness,
    render_midi,
    resolve_soundfont,
    true_peak_db,
)
from cmtlite.errors import ConfigError, MidiReadError
from cmtlite.tokens.codec import make_score
from cmtlite.tokens.midi import write_midi
from tests.conftest import SMALL_SOUNDFONT, assert_bad_input, needs_soundfont, run


@pytest.fixture(scope="module")
def band_midi(tmp_path_factory):
    rows = [[0, 36, t, 1] for t in range(0, 64, 4)] + [[1, 60 + (t % 12), t, 4] for t in range(0, 64, 8)]
    rows += [[3, 36, t, 8] for t in range(0, 64, 16)] + [[4, 67, 0, 32], [2, 64, 32, 16]]
    path = tmp_path_factory.mktemp("midi") / "band.mid"
    write_midi(make_score(np.array(rows), tempo_bpm=120)[0], path)  # 4 bars at 120 BPM = 8 s
    return path


@needs_soundfont
def test_render_length_and_every_family_sounds(band_midi):
    audio = render_midi(band_midi, SMALL_SOUNDFONT)
    assert audio.dtype == np.float32 and audio.shape[1] == 2
    assert abs(len(audio) / SAMPLE_RATE - (8.0 + TAIL_S)) < 0.6  # last note-off (≈ 8 s) plus the tail
    assert np.abs(audio[: SAMPLE_RATE // 2]).max() > 0.01  # sound from the first beat


@needs_soundfont
def test_dangling_note_on_renders_in_bounded_time(tmp_path):
    midi = miditoolkit.MidiFile(ticks_per_beat=480)
    track = miditoolkit.Instrument(0)
    track.notes = [miditoolkit.Note(100, 60, 0, 480)]
    midi.instruments = [track]
    midi.dump(str(tmp_path / "x.mid"))
    data = bytearray((tmp_path / "x.mid").read_bytes())
    off = data.rfind(bytes([0x80, 60]))  # turn the note-off into the note-off of another key
    data[off : off + 3] = bytes([0x90, 61, 0])
    (tmp_path / "x.mid").write_bytes(bytes(data))
    start = time.perf_counter()
    audio = render_midi(tmp_path / "x.mid", SMALL_SOUNDFONT)
    assert time.perf_counter() - start < 10 and len(audio) < 5 * SAMPLE_RATE


def test_fit_length_cuts_pads_and_fades():
    audio = np.ones((SAMPLE_RATE, 2), np.float32)
    out = fit_length(audio, 1.5, fade_out_s=0.5)
    assert len(out) == round(1.5 * SAMPLE_RATE)
    assert out[0, 0] == 1 and out[-1, 0] == 0 and out[round(1.2 * SAMPLE_RATE), 0] == 0  # padded with silence
    assert len(fit_length(audio, 0.25, fade_out_s=0)) == round(0.25 * SAMPLE_RATE)


def test_loudness_and_true_peak():
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((5 * SAMPLE_RATE, 2)) * 0.05).astype(np.float32)
    audio[SAMPLE_RATE] = 0.99  # a spike the limiter must hold
    out = normalize_loudness(audio, -14.0)
    assert pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(out) == pytest.approx(-14.0, abs=1.0)
    assert true_peak_db(out) <= -0.9
    silence = np.zeros((SAMPLE_RATE, 2), np.float32)
    np.testing.assert_array_equal(normalize_loudness(silence, -16), silence)


def test_soundfont_resolution_order(tmp_path, monkeypatch):
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF\x00\x00\x00\x00sfbkLIST")
    monkeypatch.setenv(SOUNDFONT_ENV, str(fake))
    assert resolve_soundfont() == fake
    other = tmp_path / "other.sf2"
    other.write_bytes(b"RIFF\x00\x00\x00\x00sfbk")
    assert resolve_soundfont(other) == other  # an explicit file wins over the environment
    monkeypatch.setenv(SOUNDFONT_ENV, str(tmp_path / "missing.sf2"))
    with pytest.raises(ConfigError, match="missing.sf2"):
        resolve_soundfont()


def test_corrupt_midi_is_a_read_error(tmp_path):
    (tmp_path / "bad.mid").write_text("nope")
    with pytest.raises(MidiReadError):
        render_midi(tmp_path / "bad.mid", tmp_path / "unused.sf2")


@needs_soundfont
def test_cli_render(band_midi, tmp_path):
    out = tmp_path / "out.wav"
    result = run("render", band_midi, "-o", out, "--soundfont", SMALL_SOUNDFONT, "--loudness", -20)
    assert result.exit_code == 0, result.output
    from scipy.io import wavfile

    rate, data = wavfile.read(out)
    assert rate == SAMPLE_RATE and data.dtype == np.int16 and data.shape[1] == 2
    assert pyloudnorm.Meter(rate).integrated_loudness(data / 32768.0) == pytest.approx(-20, abs=1.0)


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", ["not a SoundFont"]), (b"RIFF\x00\x00\x00\x00WAVEfmt ", ["not a SoundFont"])],
)
def test_cli_render_bad_soundfont(band_midi, tmp_path, content, words):
    (tmp_path / "bad.sf2").write_bytes(content)
    out = tmp_path / "out.wav"
    assert_bad_input(run("render", band_midi, "-o", out, "--soundfont", tmp_path / "bad.sf2"), *words)
    assert not out.exists()


def test_cli_render_bad_midi(tmp_path):
    (tmp_path / "bad.mid").write_text("nope")
    assert_bad_input(run("render", tmp_path / "bad.mid", "-o", tmp_path / "x.wav"), "not a readable MIDI")
