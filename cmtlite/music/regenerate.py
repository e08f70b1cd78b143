"""Section regenerates: bars of a finished piece sampled anew, every other bar kept token for token."""

from __future__ import annotations

import numpy as np
import torch

from cmtlite.errors import ConfigError
from cmtlite.model import CPTransformer
from cmtlite.music.grammar import Controls
from cmtlite.music.sampler import generate_tokens
from cmtlite.tokens.codec import carried_beat_timing
from cmtlite.tokens.vocab import BEAT, BEAT_BAR, TYPE, TYPE_METRICAL

REGENERATE_CANDIDATES = 3  # continuations sampled for a regenerated section; the best seam into the kept bars wins


def bar_starts(tokens: np.ndarray) -> np.ndarray:
    """Row index of every bar token in ``tokens`` (T, N_FIELDS), shape (n_bars,)."""
    return np.nonzero((tokens[:, TYPE] == TYPE_METRICAL) & (tokens[:, BEAT] == BEAT_BAR))[0]


@torch.inference_mode()
def seam_loss(model: CPTransformer, tokens: np.ndarray, first: int, last: int) -> float:
    """Mean loss of the model predicting rows ``first..last - 1`` of ``tokens`` from the rows before them (its context at most).

    Low means the rows follow naturally: used to choose the regenerated bars
    that lead best into the bar kept after them.
    """
    context = model.config.context
    start = max(0, last - context - 1)
    window = tokens[start:last]
    time_index = carried_beat_timing(window)
    mask = np.zeros((1, len(window) - 1), bool)
    mask[0, first - start - 1 :] = True
    device = next(model.parameters()).device
    as_tensor = lambda a: torch.as_tensor(a, device=device).unsqueeze(0)  # noqa: E731
    loss, _ = model.loss(as_tensor(window), as_tensor(time_index), torch.as_tensor(mask, device=device))
    return float(loss)


def regenerate_bars(
    model: CPTransformer,
    controls: Controls,
    tokens: np.ndarray,
    bars: tuple[int, int],
    *,
    seed: int = 0,
    temperature: float = 1.0,
    candidates: int = REGENERATE_CANDIDATES,
) -> np.ndarray:
    """``tokens`` (a finished piece) with bars ``first..last`` (inclusive) sampled anew and every other bar kept token for token.

    The model continues from the kept prefix, so the first new bar follows
    what came before. A causal model cannot see the kept suffix, so the seam
    into it is made by choice: ``candidates`` continuations are sampled
    (seeds ``seed``, ``seed + 1``, ...) and the one under which the model
    finds the first kept bar after them most likely (lowest :func:`seam_loss`)
    wins. Deterministic for a seed.

    Raises
    ------
    ConfigError
        ``bars`` outside the piece, or ``tokens`` not a piece of ``controls.n_bars`` bars.
    """
    first, last = bars
    starts = bar_starts(tokens)
    if len(starts) != controls.n_bars or not 0 <= first <= last < controls.n_bars:
        msg = f"bars {first}..{last} are not inside a piece of {len(starts)} bars (controls: {controls.n_bars})"
        raise ConfigError(msg)
    prefix = tokens[: starts[first]]
    if last + 1 == len(starts):  # the new bars end the piece: generate_tokens closes it, no seam after them
        return generate_tokens(model, controls, seed=seed, temperature=temperature, prefix=prefix, last_bar=last)
    end = starts[last + 1]
    suffix = tokens[end:]
    best, best_loss = None, np.inf
    for k in range(max(candidates, 1)):
        middle = generate_tokens(model, controls, seed=seed + k, temperature=temperature, prefix=prefix, last_bar=last)
        spliced = np.concatenate([middle, suffix])
        next_bar_end = starts[last + 2] - end + len(middle) if last + 2 < len(starts) else len(spliced)
        loss = seam_loss(model, spliced, len(middle), next_bar_end)
        if loss < best_loss:
            best, best_loss = spliced, loss
    return best


