"""One progress-bar helper for every long job; ``quiet`` turns it off; a sink can follow it from another thread."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm import tqdm

ProgressSink = Callable[[str, int, int | None], None]
_SINK: ContextVar[ProgressSink | None] = ContextVar("cmtlite_progress_sink", default=None)


class _ReportingBar(tqdm):
    """A tqdm bar that also tells the sink (description, steps done, total) on every update."""

    def __init__(self, *, total: int | None, desc: str, sink: ProgressSink, **kwargs: object) -> None:
        self._sink, self._label, self._expected, self._done = sink, desc, total, 0  # tqdm keeps none of them when disabled
        super().__init__(total=total, desc=desc, **kwargs)

    def update(self, n: float = 1) -> bool | None:
        shown = super().update(n)
        self._done += int(n)
        self._sink(self._label, self._done, self._expected)
        return shown


def progress_bar(total: int | None, *, desc: str, unit: str = "it", quiet: bool = False) -> tqdm:
    """A tqdm bar on stderr, disabled when ``quiet``; inside :func:`reporting_to`, it also reports to that sink.

    Parameters
    ----------
    total : int or None
        Expected number of steps (None when unknown).
    desc : str
        Short label shown before the bar.
    unit : str
        Name of one step (default "it").
    quiet : bool
        Return a bar that prints nothing (default False).
    """
    sink = _SINK.get()
    if sink is None:
        return tqdm(total=total, desc=desc, unit=unit, disable=quiet, file=sys.stderr, dynamic_ncols=True, leave=False)
    return _ReportingBar(total=total, desc=desc, unit=unit, disable=quiet, file=sys.stderr, dynamic_ncols=True, leave=False, sink=sink)


@contextmanager
def reporting_to(sink: ProgressSink) -> Iterator[None]:
    """Within this block (in this thread), every progress bar also calls ``sink(description, done, total)``."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)
