"""Calibration: the versioned quantile tables that turn video measurements into control units.

Motion speed maps to bar density and visual-beat strength to a strength
level by quantile matching: a speed at the p-th quantile of reference videos
becomes the density at the p-th quantile of the training corpus. The tables
live in ``models/calibration.json`` (rebuilt by ``cmtlite calibrate`` from a
prepared corpus), not in code.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cmtlite.constants import BEATS_PER_BAR, CALIBRATION_PATH, TICKS_PER_BEAT
from cmtlite.errors import ConfigError
from cmtlite.outputs import check_outputs, write_json


@dataclass(frozen=True)
class Calibration:
    """Quantile tables that map video measurements to the codec's control units.

    Attributes
    ----------
    version : int
        Format version of the file.
    source : str
        Where the tables come from (human-readable).
    probabilities : tuple of float
        Increasing probabilities in [0, 1] at which the quantiles are taken.
    speed_quantiles : tuple of float
        Per-bar motion speed of reference videos at those probabilities, in
        frame diagonals per second.
    density_quantiles : tuple of float
        Bar density of the training corpus (distinct onset ticks per bar, 0..16).
    strength_quantiles : tuple of float
        Position strength of the training corpus (notes starting on an onset tick).
    """

    version: int
    source: str
    probabilities: tuple[float, ...]
    speed_quantiles: tuple[float, ...]
    density_quantiles: tuple[float, ...]
    strength_quantiles: tuple[float, ...]

    def __post_init__(self) -> None:
        tables = (self.probabilities, self.speed_quantiles, self.density_quantiles, self.strength_quantiles)
        if len({len(t) for t in tables}) != 1 or len(self.probabilities) < 2:
            msg = f"calibration tables must have one common length >= 2 (got {[len(t) for t in tables]})"
            raise ConfigError(msg)
        for name, table in zip(("probabilities", "speed", "density", "strength"), tables, strict=True):
            values = np.asarray(table, float)
            if not np.all(np.isfinite(values)) or np.any(np.diff(values) < 0):
                msg = f"calibration {name} table must be finite and non-decreasing"
                raise ConfigError(msg)

    def speed_to_density(self, speed: np.ndarray) -> np.ndarray:
        """Bar density (onset ticks per bar, int 0..16) for motion speeds (diagonals per second)."""
        prob = np.interp(speed, self.speed_quantiles, self.probabilities)
        density = np.interp(prob, self.probabilities, self.density_quantiles)
        return np.clip(np.rint(density), 0, TICKS_PER_BEAT * BEATS_PER_BAR).astype(int)

    def strength_to_level(self, strength: np.ndarray) -> np.ndarray:
        """Strength level (codec units, int >= 1) for visual-beat strengths in 0..1."""
        level = np.interp(strength, self.probabilities, self.strength_quantiles)
        return np.maximum(np.rint(level), 1).astype(int)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Calibration:
        """A calibration from the dict :meth:`to_json` writes.

        Raises
        ------
        ConfigError
            A key missing, of the wrong type, or malformed tables.
        """
        try:
            return cls(
                version=int(obj["version"]),
                source=str(obj["source"]),
                probabilities=tuple(float(x) for x in obj["probabilities"]),
                speed_quantiles=tuple(float(x) for x in obj["speed_quantiles"]),
                density_quantiles=tuple(float(x) for x in obj["density_quantiles"]),
                strength_quantiles=tuple(float(x) for x in obj["strength_quantiles"]),
            )
        except (ValueError, KeyError, TypeError) as err:
            msg = f"not a calibration ({err.__class__.__name__}: {err})"
            raise ConfigError(msg) from err

    def strongest_level(self) -> int:
        """The strength level of the strongest visual beat (strength 1.0)."""
        return int(self.strength_to_level(np.array([1.0]))[0])

    def to_json(self) -> dict[str, Any]:
        """The calibration as a JSON-ready dict."""
        return {
            "version": self.version,
            "source": self.source,
            "probabilities": list(self.probabilities),
            "speed_quantiles": list(self.speed_quantiles),
            "density_quantiles": list(self.density_quantiles),
            "strength_quantiles": list(self.strength_quantiles),
        }


def load_calibration(path: Path = CALIBRATION_PATH) -> Calibration:
    """Read a calibration file (JSON with the fields of :class:`Calibration`; default: the shipped one).

    Raises
    ------
    ConfigError
        The file is missing, not JSON, or its tables are malformed.
    """
    try:
        return Calibration.from_json(json.loads(Path(path).read_text()))
    except (OSError, ValueError, ConfigError) as err:
        msg = f"{path}: not a valid calibration file ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err


def histogram_quantiles(histogram: np.ndarray, probabilities: tuple[float, ...]) -> tuple[float, ...]:
    """Quantiles of integer values 0..len-1 counted in ``histogram``: the smallest value whose CDF reaches each probability."""
    cdf = np.cumsum(histogram) / max(float(np.sum(histogram)), 1.0)
    return tuple(float(np.searchsorted(cdf, np.clip(p, 1e-12, cdf[-1]))) for p in probabilities)


def calibration_from_corpus(meta: dict[str, Any], base: Calibration, *, source: str) -> Calibration:
    """``base`` with its density and strength tables replaced by a prepared corpus's statistics.

    ``meta`` is a corpus ``meta.json``; its training split's non-empty bars
    give the density table and its onset positions the strength table.
    """
    try:
        stats = meta["statistics"]
        density = np.asarray(stats["bar_density_histogram"], float)
        strength = np.asarray(stats["position_strength_histogram"], float)
    except (KeyError, TypeError) as err:
        msg = f"not a corpus meta.json with statistics ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err
    density[0], strength[0] = 0, 0  # empty bars and strength 0 do not occur under motion or a visual beat
    if density.sum() == 0 or strength.sum() == 0:
        msg = "the corpus statistics are empty"
        raise ConfigError(msg)
    return dataclasses.replace(
        base,
        source=source,
        density_quantiles=histogram_quantiles(density, base.probabilities),
        strength_quantiles=histogram_quantiles(strength, base.probabilities),
    )


def calibration_from_corpus_dir(corpus_dir: Path, base: Calibration) -> Calibration:
    """:func:`calibration_from_corpus` for a prepared corpus folder, with a source line naming its data.

    Raises
    ------
    ConfigError
        ``corpus_dir`` holds no readable ``meta.json`` with statistics.
    """
    try:
        meta = json.loads((Path(corpus_dir) / "meta.json").read_text())
    except (OSError, ValueError) as err:
        msg = f"{corpus_dir}: not a prepared corpus ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err
    if not isinstance(meta, dict):
        msg = f"{corpus_dir}: not a prepared corpus (meta.json is not an object)"
        raise ConfigError(msg)
    speed_part = base.source.split(";")[0].removeprefix("provisional: ")
    sources = ", ".join(meta.get("sources", []))
    source = f"{speed_part}; density and strength quantiles of the training split of the corpus prepared from {sources}"
    return calibration_from_corpus(meta, base, source=source + " (non-empty bars / onset positions)")


def write_corpus_calibration(corpus_dir: Path, output: Path, *, base_path: Path | None = None, force: bool = False) -> Path:
    """``cmtlite calibrate``: write the calibration of a prepared corpus (speed table kept from ``base_path``, default the shipped one).

    Raises
    ------
    OutputError
        ``output`` is the base calibration or the corpus's meta.json, or exists without ``force``.
    """
    check_outputs((output,), inputs=(base_path or CALIBRATION_PATH, Path(corpus_dir) / "meta.json"), force=force)
    base = load_calibration(base_path or CALIBRATION_PATH)
    return write_json(output, calibration_from_corpus_dir(corpus_dir, base).to_json(), force=force)
