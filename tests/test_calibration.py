"""Calibration: the quantile tables, their file, and `cmtlite calibrate` from a prepared corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmtlite.calibration import Calibration, histogram_quantiles, load_calibration
from cmtlite.errors import ConfigError
from tests.conftest import assert_bad_input, run


def test_calibration_maps_monotonically():
    cal = load_calibration()
    speeds = np.linspace(0, 1, 50)
    assert np.all(np.diff(cal.speed_to_density(speeds)) >= 0)
    assert cal.speed_to_density(np.array([0.0, 10.0])).tolist()[1] <= 16
    levels = cal.strength_to_level(np.linspace(0, 1, 20))
    assert np.all(np.diff(levels) >= 0) and levels.min() >= 1


def test_bad_calibration_is_a_config_error(tmp_path):
    path = tmp_path / "cal.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "source": "x",
                "probabilities": [0, 1],
                "speed_quantiles": [1, 0],
                "density_quantiles": [0, 16],
                "strength_quantiles": [1, 9],
            }
        )
    )
    with pytest.raises(ConfigError, match="non-decreasing"):
        load_calibration(path)
    with pytest.raises(ConfigError):
        Calibration(1, "x", (0.0,), (0.0,), (0.0,), (0.0,))


def test_histogram_quantiles():
    assert histogram_quantiles(np.array([0, 2, 0, 2]), (0.0, 0.25, 0.5, 0.51, 1.0)) == (1.0, 1.0, 1.0, 3.0, 3.0)


def test_calibrate_from_a_prepared_corpus(tiny_corpus, tmp_path):
    out = tmp_path / "calibration.json"
    result = run("calibrate", tiny_corpus, "-o", out)
    assert result.exit_code == 0, result.output
    calibration = load_calibration(out)
    meta = json.loads((tiny_corpus / "meta.json").read_text())
    densities = np.nonzero(meta["statistics"]["bar_density_histogram"])[0]
    assert calibration.density_quantiles[0] == densities[densities > 0].min()
    assert calibration.density_quantiles[-1] == densities.max()
    assert calibration.speed_quantiles == load_calibration().speed_quantiles
    assert_bad_input(run("calibrate", tmp_path, "-o", tmp_path / "x.json"), "not a prepared corpus")
    assert_bad_input(run("calibrate", tiny_corpus, "-o", out), "exists")
