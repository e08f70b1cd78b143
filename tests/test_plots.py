"""Plots: the analysis and soundtrack pictures draw from VideoControls, with or without per-frame curves."""

from __future__ import annotations

from cmtlite.controls import VideoControls
from cmtlite.plots import plot_analysis, plot_soundtrack
from tests.conftest import minimal_controls

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_of_a_hand_written_controls_file(tmp_path):
    cut = {"time_s": 1.5, "strength": 1.0, "is_cut": True}
    controls = VideoControls.from_json(minimal_controls(scene_cuts_s=[1.5], visual_beats=[cut]))
    assert plot_analysis(controls, tmp_path / "a.png", force=False).read_bytes()[:8] == PNG
    notes = [("piano", 60, 0.0, 0.5), ("bass", 36, 0.5, 1.0), ("drums", 36, 1.5, 0.1)]
    assert plot_soundtrack(controls, notes, tmp_path / "s.png", force=False).read_bytes()[:8] == PNG


def test_analysis_plot_draws_the_frame_curves(tmp_path):
    trace = {"times_s": [0.0, 0.5, 1.0], "speed": [0.0, 0.2, 0.1], "saliency": [0.0, 0.3, 0.0]}
    controls = VideoControls.from_json(minimal_controls(frame_motion=trace))
    path = plot_analysis(controls, tmp_path / "a.png", force=False)
    assert path.read_bytes()[:8] == PNG and sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]
