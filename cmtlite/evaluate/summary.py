"""Every metric of a MIDI file, means over files and a folder of real music: what ``cmtlite evaluate`` reports.

A file's result holds the music metrics (:mod:`cmtlite.evaluate.metrics`, on
the MIDI's own ticks), the groove and form metrics
(:mod:`cmtlite.evaluate.form`) and the tune and role metrics
(:mod:`cmtlite.evaluate.melody`) (both on :func:`~cmtlite.evaluate.notes.read_piece`:
a POP909 song on its chord labels' grid), and with controls the control
fidelity and hit points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cmtlite.controls import VideoControls
from cmtlite.errors import ConfigError
from cmtlite.evaluate.form import FORM_METRICS, GROOVE_METRICS, form_metrics
from cmtlite.evaluate.melody import ROLE_METRICS, TUNE_METRICS, role_metrics, tune_metrics
from cmtlite.evaluate.metrics import MUSIC_METRICS, audio_hit_rate, control_metrics, estimate_key, music_metrics
from cmtlite.evaluate.notes import Notes, is_pop909, read_notes, read_piece

# The scalar metrics of the groove/form and tune/role issues, in report order.
MUSICALITY_METRICS = GROOVE_METRICS + FORM_METRICS + TUNE_METRICS + ROLE_METRICS


def musicality_metrics(path: Path, notes: Notes | None = None) -> dict[str, Any]:
    """The groove, form, tune and role metrics of one MIDI file (read by :func:`~cmtlite.evaluate.notes.read_piece`).

    ``notes``: the file as :func:`~cmtlite.evaluate.notes.read_notes` read it
    already, used unless the file is a POP909 song (read on its labels' grid).
    """
    piece = read_piece(path) if notes is None or is_pop909(path) else notes
    return {**form_metrics(piece), **tune_metrics(piece), **role_metrics(piece)}


def evaluate_file(path: Path, controls: VideoControls | None = None, *, audio: Path | None = None) -> dict[str, Any]:
    """Every metric of one MIDI file (control metrics only with ``controls``; ``audio_hit_rate`` also with its rendered ``audio``)."""
    notes = read_notes(path, grid=controls is not None)  # only the control metrics read the file's own grid
    key, correlation = estimate_key(notes)
    result: dict[str, Any] = {"file": str(path), **music_metrics(notes), "key": key, "key_correlation": correlation,
                              **musicality_metrics(path, notes)}
    if controls is not None:
        result |= control_metrics(notes, controls)
        if audio is not None:
            result["audio_hit_rate"] = audio_hit_rate(audio, controls)
    return result


def mean_metrics(results: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, float | None]:
    """Mean of each metric over the files where it is defined."""
    out = {}
    for name in names:
        values = [r[name] for r in results if r.get(name) is not None]
        out[name] = float(np.mean(values)) if values else None
    return out


def reference_metrics(folder: Path) -> dict[str, float | None]:
    """Mean music and musicality metrics of every MIDI file under ``folder`` (real music to compare with).

    Raises
    ------
    ConfigError
        ``folder`` is not a folder or holds no MIDI files.
    """
    folder = Path(folder)
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".mid", ".midi"}) if folder.is_dir() else []
    if not paths:
        msg = f"reference folder {folder}: no MIDI files in it"
        raise ConfigError(msg)
    return mean_metrics([evaluate_file(path) for path in paths], MUSIC_METRICS + MUSICALITY_METRICS)


def metric_gaps(generated: dict[str, float | None], reference: dict[str, float | None]) -> list[list]:
    """Rows of (metric, generated, reference, |gap|) for every music and musicality metric; None where either is undefined."""
    rows = []
    for name in MUSIC_METRICS + MUSICALITY_METRICS:
        a, b = generated.get(name), reference.get(name)
        rows.append([name, a, b, None if a is None or b is None else abs(a - b)])
    return rows
