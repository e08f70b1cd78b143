"""Mux stage: packets copied, exact length, AAC audio, original audio kept / ducked / dropped."""

from __future__ import annotations

import numpy as np
import pytest

from cmtlite.audio.mux import duck_gain, mix, mux, read_audio
from cmtlite.audio.render import SAMPLE_RATE
from cmtlite.video.decode import probe_video
from tests.conftest import assert_bad_input, audio_duration_s, packets, run, tone


def test_video_copied_and_length_exact(bounce_clip, tmp_path):
    duration = probe_video(bounce_clip).duration_s
    out = tmp_path / "out.mp4"
    mux(bounce_clip, tone(duration, 440, 0.2), out)
    assert [p[0] for p in packets(out)] == [p[0] for p in packets(bounce_clip)]
    assert probe_video(out).duration_s == pytest.approx(duration, abs=1e-6)
    assert abs(audio_duration_s(out) - duration) <= 1024 / SAMPLE_RATE  # within one AAC frame
    back = read_audio(out)
    assert abs(len(back) - duration * SAMPLE_RATE) <= 1024 + 2048  # decoder priming / padding at most
    assert 0.1 < np.abs(back).max() < 0.3


def test_original_audio_modes(sound_clip, tmp_path):
    duration = probe_video(sound_clip).duration_s
    original = read_audio(sound_clip)
    music = tone(duration, 880, 0.2)
    n = len(music)
    kept, ducked, dropped = (mix(music, original, mode) for mode in ("keep", "duck", "drop"))
    np.testing.assert_array_equal(dropped, music)
    first, second = slice(n // 8, n // 4), slice(3 * n // 4, 7 * n // 8)  # the original sounds in the first half only

    def music_level(audio: np.ndarray, part: slice) -> float:
        return float(np.abs(np.fft.rfft(audio[part, 0]))[round(880 * (part.stop - part.start) / SAMPLE_RATE)])

    assert music_level(ducked, first) < 0.4 * music_level(kept, first)  # ducked under the original's sound
    assert music_level(ducked, second) == pytest.approx(music_level(kept, second), rel=0.05)  # not where it is quiet
    for mode in ("keep", "duck", "drop"):
        out = tmp_path / f"{mode}.mp4"
        mux(sound_clip, mix(music, original, mode), out)
        assert [p[0] for p in packets(out)] == [p[0] for p in packets(sound_clip)]
        assert read_audio(out) is not None


def test_duck_gain_range():
    loud, silent = tone(2, 200, 0.5), np.zeros((SAMPLE_RATE, 2), np.float32)
    assert duck_gain(loud)[SAMPLE_RATE] == pytest.approx(10 ** (-12 / 20), rel=0.01)
    assert duck_gain(silent).min() == 1.0


def test_cli_mux(sound_clip, bounce_clip, tmp_path):
    from scipy.io import wavfile

    wav = tmp_path / "music.wav"
    wavfile.write(wav, SAMPLE_RATE, (tone(30, 440, 0.2) * 32767).astype(np.int16))  # longer than the video: cut
    for clip, mode in ((sound_clip, "keep"), (bounce_clip, None)):
        out = tmp_path / f"out_{mode}.mp4"
        result = run("mux", clip, wav, "-o", out, *(["--original-audio", mode] if mode else []), "--fade-out", 1)
        assert result.exit_code == 0, result.output
        assert abs(audio_duration_s(out) - probe_video(clip).duration_s) <= 1024 / SAMPLE_RATE


def test_cli_mux_bad_inputs(bounce_clip, tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio")
    existing = tmp_path / "existing.mp4"
    existing.write_text("keep")
    assert_bad_input(run("mux", bounce_clip, tmp_path / "empty.wav", "-o", tmp_path / "a.mp4"), "empty.wav")
    assert_bad_input(run("mux", bounce_clip, tmp_path / "text.wav", "-o", tmp_path / "b.mp4"), "text.wav")
    assert_bad_input(run("mux", tmp_path / "nope.mp4", tmp_path / "text.wav", "-o", tmp_path / "c.mp4"), "nope.mp4")
    assert_bad_input(run("mux", bounce_clip, tmp_path / "text.wav", "-o", existing), "exists")
    assert existing.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.wav", "existing.mp4", "text.wav"]
