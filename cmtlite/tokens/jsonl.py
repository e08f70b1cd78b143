"""The token file: a header line, then one JSON object per token (musical values)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from cmtlite.constants import TICKS_PER_BEAT
from cmtlite.errors import TokenGrammarError
from cmtlite.tokens.codec import Score, dict_to_token, encode, token_to_dict


def score_to_lines(score: Score, *, stats: dict[str, int] | None = None) -> list[str]:
    """JSON lines of a score: header (``tempo_bpm``, ``ticks_per_beat``, ``n_bars``, extras), then tokens."""
    return token_lines(encode(score), tempo_bpm=score.tempo_bpm, n_bars=score.n_bars, stats=stats)


def token_lines(tokens: np.ndarray, *, tempo_bpm: float, n_bars: int, stats: dict | None = None) -> list[str]:
    """JSON lines of tokens (T, N_FIELDS): the header, then one object per token."""
    header = {"tempo_bpm": round(tempo_bpm, 4), "ticks_per_beat": TICKS_PER_BEAT, "n_bars": n_bars, **(stats or {})}
    return [json.dumps(header)] + [json.dumps(token_to_dict(row)) for row in tokens]


def read_token_file(path: Path) -> tuple[dict, np.ndarray]:
    """(header, tokens of shape (T, N_FIELDS)) from a token file.

    Raises
    ------
    TokenGrammarError
        Missing file, bad JSON, a bad header or token (the line number is named).
    """
    try:
        lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        msg = f"{path}: cannot read token file ({err.__class__.__name__}: {err})"
        raise TokenGrammarError(msg) from err
    if not lines:
        msg = f"{path}: empty token file"
        raise TokenGrammarError(msg)
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            obj = json.loads(line)
            if number == 1:
                header = _check_header(obj)
            else:
                rows.append(dict_to_token(obj))
        except (json.JSONDecodeError, TokenGrammarError) as err:
            msg = f"{path}: line {number}: {err}"
            raise TokenGrammarError(msg) from err
    return header, np.asarray(rows, np.int64).reshape(len(rows), -1)


def _check_header(obj: object) -> dict:
    tempo = obj.get("tempo_bpm") if isinstance(obj, dict) else None
    if not isinstance(tempo, (int, float)) or isinstance(tempo, bool) or not math.isfinite(tempo) or tempo <= 0:
        msg = f"the first line must be a header with a positive tempo_bpm (got {obj!r})"
        raise TokenGrammarError(msg)
    if obj.get("ticks_per_beat", TICKS_PER_BEAT) != TICKS_PER_BEAT:
        msg = f"ticks_per_beat must be {TICKS_PER_BEAT} (got {obj.get('ticks_per_beat')!r})"
        raise TokenGrammarError(msg)
    return obj
