"""Typed JSON records: frozen dataclasses whose fields declare their JSON key, type and range.

A record field carries a :class:`Spec` in its metadata (declared with
:func:`json_field`): how to read and check the JSON value, and how to write
it back. :meth:`Record.from_json` reads every declared field, naming the
path of a bad value (``bars[3].density``); :meth:`Record.to_json` writes
them in declaration order, leaving out optional fields that are None. A new
key in a file format is one field line in its record.

Examples
--------
>>> @dataclass(frozen=True, kw_only=True)
... class Point(Record):
...     x_s: float = json_field(number(low=0.0, digits=3))
...     label: str | None = json_field(text(), default=None)
>>> Point.from_json({"x_s": 1.23456}).to_json()
{'x_s': 1.235}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any, Self

import numpy as np

from cmtlite.errors import ConfigError

Reader = Callable[[object, str], Any]


@dataclass(frozen=True)
class Spec:
    """How one JSON value is read (checked, converted) and written back."""

    read: Reader
    write: Callable[[Any], Any]


def json_field(spec: Spec, *, default: object = MISSING, default_factory: Callable[[], Any] | object = MISSING) -> Any:  # noqa: ANN401
    """A dataclass field stored in JSON under its own name (optional when it has a default)."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"json": spec})


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _bad(where: str, what: str, value: object) -> ConfigError:
    text = repr(value)
    return ConfigError(f"{where} must be {what} (got {text[:60] + '...' if len(text) > 60 else text})")


def number(*, low: float = -math.inf, high: float = math.inf, digits: int | None = None) -> Spec:
    """A finite number in [low, high], read as float, written rounded to ``digits`` decimals (None: as is)."""

    def read(value: object, where: str) -> float:
        if not _is_number(value) or not low <= value <= high:
            raise _bad(where, f"a finite number in [{low:g}, {high:g}]", value)
        return float(value)

    return Spec(read, lambda v: float(v) if digits is None else round(float(v), digits))


def integer(*, low: int, high: int) -> Spec:
    """An integer in [low, high] (JSON booleans are not integers)."""

    def read(value: object, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _bad(where, f"an integer in [{low}, {high}]", value)
        return value

    return Spec(read, int)


def _instance_of(kind: type, what: str) -> Spec:
    """A JSON value of Python type ``kind``, described as ``what`` in errors."""

    def read(value: object, where: str) -> object:
        if not isinstance(value, kind):
            raise _bad(where, what, value)
        return value

    return Spec(read, kind)


def text() -> Spec:
    """A string."""
    return _instance_of(str, "a string")


def flag() -> Spec:
    """A boolean."""
    return _instance_of(bool, "true or false")


def list_of(item: Spec) -> Spec:
    """A JSON list of ``item`` values, held as a tuple."""

    def read(value: object, where: str) -> tuple:
        if not isinstance(value, list):
            raise _bad(where, "a list", value)
        return tuple(item.read(v, f"{where}[{i}]") for i, v in enumerate(value))

    return Spec(read, lambda values: [item.write(v) for v in values])


def array(*, digits: int) -> Spec:
    """A JSON list of finite numbers, held as a float64 array of shape (n,), written rounded to ``digits``."""

    def read(value: object, where: str) -> np.ndarray:
        if not isinstance(value, list) or not all(map(_is_number, value)):
            raise _bad(where, "a list of finite numbers", value)
        return np.asarray(value, np.float64)

    return Spec(read, lambda values: [round(float(v), digits) for v in values])


def record(cls: type[Record]) -> Spec:
    """A nested JSON object read as the record class ``cls``."""
    return Spec(lambda value, where: cls.from_json(value, where=where), lambda value: value.to_json())


@dataclass(frozen=True)
class Record:
    """Base of typed JSON records; subclasses are frozen, keyword-only dataclasses of :func:`json_field` fields."""

    @classmethod
    def from_json(cls, obj: object, *, where: str = "") -> Self:
        """The record read from a parsed JSON object; ``where`` names it in errors.

        Raises
        ------
        ConfigError
            Not an object, a required key missing, or a value of the wrong type or out of range (named).
        """
        if not isinstance(obj, dict):
            raise _bad(where or "the document", "a JSON object", obj)
        declared = [f for f in dataclasses.fields(cls) if "json" in f.metadata]
        missing = [f.name for f in declared if f.name not in obj and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            msg = f"missing keys {missing}" + (f" in {where}" if where else "")
            raise ConfigError(msg)
        prefix = f"{where}." if where else ""
        values = {
            f.name: f.metadata["json"].read(obj[f.name], prefix + f.name)
            for f in declared
            if f.name in obj and not (obj[f.name] is None and f.default is None)
        }
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict, keys in declaration order; optional fields that are None are left out."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if "json" in f.metadata and value is not None:
                out[f.name] = f.metadata["json"].write(value)
        return out
