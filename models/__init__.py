"""The shipped model files (weights, card, calibration), installed as the package data of ``cmtlite.models``."""
