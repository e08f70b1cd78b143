"""One progress-bar helper for every long job; ``quiet`` turns it off."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int | None, *, desc: str, unit: str = "it", quiet: bool = False) -> tqdm:
    """A tqdm bar on stderr, disabled when ``quiet``.

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
    return tqdm(total=total, desc=desc, unit=unit, disable=quiet, file=sys.stderr, dynamic_ncols=True, leave=False)
