"""The token file: a header line, then one JSON object per token (musical values)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from cmtlite.constants import TICKS_PER_BEAT
from cmtlite.errors import TokenGrammarError
from cmtlite.outputs import atomic_output, check_outputs
from cmtlite.timing import check_tempo_bpm
from cmtlite.tokens.codec import Score, decode, dict_to_token, encode, token_to_dict
from cmtlite.tokens.midi import read_midi, write_midi


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


def write_token_file(midi: Path, output: Path | None, *, force: bool = False) -> str:
    """``cmtlite tokens``: the token lines of a MIDI file as text, also written to ``output`` unless it is None.

    Raises
    ------
    OutputError
        ``output`` is the MIDI file, or exists without ``force``.
    MidiReadError
        The MIDI file cannot be read.
    """
    check_outputs((output,), inputs=(midi,), force=force)
    score, stats = read_midi(midi)
    text = "\n".join(score_to_lines(score, stats=stats)) + "\n"
    if output is not None:
        with atomic_output(output, force=force) as tmp:
            tmp.write_text(text)
    return text


def detokenize_file(token_file: Path, output: Path, *, tempo_bpm: float | None = None, force: bool = False) -> Path:
    """``cmtlite detokenize``: rebuild a MIDI file from a token file (at ``tempo_bpm``, default the header's).

    Raises
    ------
    OutputError
        ``output`` is the token file, or exists without ``force``.
    TokenGrammarError
        The token file is malformed.
    """
    check_outputs((output,), inputs=(token_file,), force=force)
    if tempo_bpm is not None:
        check_tempo_bpm(tempo_bpm)
    header, rows = read_token_file(token_file)
    score = decode(rows, tempo_bpm=tempo_bpm or float(header["tempo_bpm"]))
    with atomic_output(output, force=force) as tmp:
        write_midi(score, tmp)
    return Path(output)
