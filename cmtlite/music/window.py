"""The model's view of the tokens so far while sampling: a KV-cached window of at most its context.

When the context is full the newest half is re-encoded as a fresh window,
so the cost stays linear in the number of tokens.
"""

from __future__ import annotations

import numpy as np
import torch

from cmtlite.model import CPTransformer, KVCache
from cmtlite.tokens.vocab import BEAT_TIMING


class Window:
    """The model's view of the tokens so far: at most ``context`` tokens, from ``start`` on.

    When a new token would overflow the context, the window restarts at the
    newest half. With the KV cache only the new token is computed; without
    it the whole window is, with the same result.
    """

    def __init__(self, model: CPTransformer, *, kv_cache: bool) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.rows: list[np.ndarray] = []
        self.times: list[int] = []  # carried beat-timing of each token
        self.start = 0
        self.cache: KVCache | None = model.new_cache() if kv_cache else None

    def _append(self, row: np.ndarray) -> None:
        self.rows.append(row)
        self.times.append(int(row[BEAT_TIMING]) if row[BEAT_TIMING] else (self.times[-1] if self.times else 0))

    def extend(self, rows: list[np.ndarray]) -> torch.Tensor:
        """Hidden state (d,) after ``rows`` appended at once (a prefix): the newest half context is read in one pass."""
        for row in rows:
            self._append(row)
        self.start = max(self.start, len(self.rows) - self.model.config.context // 2)
        if self.cache is not None:
            self.cache.length = 0
        x = torch.as_tensor(np.stack(self.rows[self.start :]), device=self.device).unsqueeze(0)
        t = torch.as_tensor(self.times[self.start :], device=self.device).unsqueeze(0)
        return self.model.hidden(x, t, self.cache)[0, -1]

    def push(self, row: np.ndarray) -> torch.Tensor:
        """Hidden state (d,) after ``row``."""
        self._append(row)
        context = self.model.config.context
        if len(self.rows) - self.start > context:
            self.start = len(self.rows) - context // 2
            if self.cache is not None:
                self.cache.length = 0
        first = self.start + (self.cache.length if self.cache is not None else 0)
        x = torch.as_tensor(np.stack(self.rows[first:]), device=self.device).unsqueeze(0)
        t = torch.as_tensor(self.times[first:], device=self.device).unsqueeze(0)
        return self.model.hidden(x, t, self.cache)[0, -1]
