"""Every metric of a file: the music metrics' keys kept, the musicality metrics added; the evaluate command's tables."""

from __future__ import annotations

import json

import pytest

from cmtlite.evaluate import MUSIC_METRICS, MUSICALITY_METRICS, evaluate_file
from tests.conftest import run, write_song, write_tracks


def band(tmp_path):
    drums = [(36, 4 * bar + beat, 4 * bar + beat + 0.25) for bar in range(16) for beat in (0, 2)]
    bass = [(36, 4 * bar + beat, 4 * bar + beat + 1) for bar in range(16) for beat in (0, 2)]
    lead = [(60 + k % 8, k, k + 1) for k in range(64)]
    markers = ((0, "section A"), (32, "section B"), (0, "chord C:maj"))
    return write_tracks(tmp_path / "band.mid", [("drums", 0, True, drums), ("bass", 33, False, bass), ("lead", 73, False, lead)],
                        markers=markers)


def test_a_file_has_every_metric(tmp_path):
    result = evaluate_file(band(tmp_path))
    assert set(MUSIC_METRICS + MUSICALITY_METRICS) <= set(result) and {"file", "key", "key_correlation"} <= set(result)
    assert result["bass_on_kick"] == 1.0 and result["drum_pattern_share"] == 1.0 and result["lead_part"] == "lead"
    assert result["lead_motif_notes"] == 32  # 8 bars of a 2-bar scale figure: the first 4 bars come back whole
    assert result["section_lengths_bars"] == [8, 8] and result["bar_repetition_by_part"]["drums"] == 1.0


def test_a_pop909_song_is_measured_on_its_labels_grid(tmp_path):
    result = evaluate_file(write_song(tmp_path / "001"))
    assert result["lead_part"] == "MELODY" and result["lead_chord_tones"] is not None
    assert result["lead_steps"] == pytest.approx(24 / 31)  # C5 C#5 D5 Eb5 per bar: 31 moves, the 7 falls of 3 are no steps


def test_the_evaluate_command_prints_and_writes_them(tmp_path):
    path = band(tmp_path)
    result = run("evaluate", path, path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:4] == ["groove,", "form,", "tune,", "roles"] and line.split()[-1] == "mean" for line in lines)
    assert any(line.split() == ["bass_on_kick", "1.000", "1.000", "1.000"] for line in lines)
    row = json.loads(run("evaluate", path, "--json").output)
    assert row["velocity_by_family"] == {"drums": 90.0, "bass": 90.0, "lead": 90.0, "kick": 90.0}
    reference = run("evaluate", path, "--reference", tmp_path)
    assert any(line.split()[:2] == ["drum_pattern_share", "1.000"] for line in reference.output.splitlines())
