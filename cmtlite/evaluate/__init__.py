"""Evaluation: music metrics of MIDI files, how well music follows a video's controls, and a score to read.

Modules, each importing only the ones before it:

* :mod:`~cmtlite.evaluate.notes`: a MIDI file's notes, parts, velocities, chords and sections;
* :mod:`~cmtlite.evaluate.metrics`: pitch and rhythm statistics, harmony, key, control fidelity, hit points;
* :mod:`~cmtlite.evaluate.form`: groove (kick+snare pattern, bass on kick, fills, crashes) and form (returns, repetition);
* :mod:`~cmtlite.evaluate.melody`: the tune (the lead's line) and the parts' roles (strings, guitar, dynamics);
* :mod:`~cmtlite.evaluate.summary`: every metric of a file, means, reference folders (``cmtlite evaluate``);
* :mod:`~cmtlite.evaluate.score`: a few bars printed as a score (``cmtlite score``).

The names below are the package's public API.
"""

from cmtlite.evaluate.metrics import (
    CONTROL_METRICS,
    MUSIC_METRICS,
    audio_hit_rate,
    bass_agreement,
    chord_tone_ratio,
    control_metrics,
    estimate_key,
    hit_rate,
    music_metrics,
)
from cmtlite.evaluate.notes import Notes, read_notes, read_piece
from cmtlite.evaluate.summary import MUSICALITY_METRICS, evaluate_file, mean_metrics, metric_gaps, musicality_metrics, reference_metrics

__all__ = [
    "CONTROL_METRICS",
    "MUSICALITY_METRICS",
    "MUSIC_METRICS",
    "Notes",
    "audio_hit_rate",
    "bass_agreement",
    "chord_tone_ratio",
    "control_metrics",
    "estimate_key",
    "evaluate_file",
    "hit_rate",
    "mean_metrics",
    "metric_gaps",
    "music_metrics",
    "musicality_metrics",
    "read_notes",
    "read_piece",
    "reference_metrics",
]
