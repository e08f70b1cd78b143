"""Per-field validation losses of model files on the same validation windows.

    python benchmarks/val_losses.py MODEL [MODEL ...] [--corpus corpus] [--batches 16]

Draws ``--batches`` batches of 16 windows of 513 tokens from the corpus's
validation split with numpy seed 7 (``cmtlite.training.train.sample_windows``) and
prints each model's mean loss per field (nats per token). A model made
before the ``chord`` field (8 fields) reads the same windows without that
column, and one made before the ``lead`` family (5 families) reads the lead's
notes as piano (where its corpus had POP909's melody), so its fields are
compared on exactly the same tokens.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from cmtlite.constants import REPO_ROOT
from cmtlite.model import load_model
from cmtlite.tokens.corpus import load_corpus
from cmtlite.tokens.vocab import FIELDS, INSTRUMENT, PIANO, to_index
from cmtlite.training.train import evaluate, sample_windows

WINDOW_TOKENS = 513
BATCH = 16


def _as_model_reads(tokens: np.ndarray, vocab_sizes: tuple[int, ...]) -> np.ndarray:
    """``tokens`` (B, T, fields) with the fields the model has; an instrument the model does not know (lead) read as piano."""
    own = tokens[..., : len(vocab_sizes)].copy()
    unknown = own[..., INSTRUMENT] >= vocab_sizes[INSTRUMENT]
    own[..., INSTRUMENT][unknown] = to_index(INSTRUMENT, PIANO)
    return own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--corpus", type=Path, default=REPO_ROOT / "corpus")
    parser.add_argument("--batches", type=int, default=16)
    args = parser.parse_args()
    _, splits = load_corpus(args.corpus)
    rng = np.random.default_rng(7)
    batches = [sample_windows(splits["val"], rng, BATCH, WINDOW_TOKENS, 0.1) for _ in range(args.batches)]
    results = {}
    for path in args.models:
        model, _ = load_model(path)
        own = [(_as_model_reads(tokens, model.config.vocab_sizes), timing, mask) for tokens, timing, mask in batches]
        per_field = evaluate(model, own, torch.device("cpu"))
        shared = float(per_field[: len(FIELDS) - 1].sum())  # the fields every model has (all but chord)
        per_name = {f: round(float(v), 4) for f, v in zip(FIELDS, per_field, strict=False)}
        results[str(path)] = {"total": round(float(per_field.sum()), 4), "total_without_chord": round(shared, 4), **per_name}
        print(path, json.dumps(results[str(path)]))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
