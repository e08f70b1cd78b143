"""Sampling speed: KV cache against full recompute, and linearity in the number of bars.

    python benchmarks/generate.py [--model PATH] [--repeats R]

With the shipped model on the CPU: events (tokens) per second with the KV
cache and with the whole window recomputed for every token, at 500, 1,000
and 2,000 events (target: cache / recompute >= 10 at 2,000), and the time for
64 bars divided by the time for 8 bars (target <= 10; 8 is linear). Density
and strength are forced, so every bar has the same number of events; the
music follows a plan (key and chords, as ``sample`` and ``generate`` do). Each
figure is the best of ``--repeats`` runs (default 2), cache and recompute
taking turns, so that a burst of load on a shared machine does not decide
a ratio. Prints a JSON line with the figures at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from cmtlite.model import default_model_path, load_model
from cmtlite.music.grammar import constant_controls
from cmtlite.music.plan import sample_plan
from cmtlite.music.sampler import generate_tokens

BARS_FOR_EVENTS = 200  # more bars than any event count below needs: runs stop at max_tokens


def events_per_s(model, n_events: int, *, kv_cache: bool) -> float:  # noqa: ANN001
    controls = constant_controls(BARS_FOR_EVENTS, density=8, strength=None, plan=sample_plan(BARS_FOR_EVENTS, key=None, seed=0))
    start = time.perf_counter()
    tokens = generate_tokens(model, controls, seed=0, kv_cache=kv_cache, max_tokens=n_events)
    return (len(tokens) - 1) / (time.perf_counter() - start)


def seconds_for_bars(model, n_bars: int) -> float:  # noqa: ANN001
    start = time.perf_counter()
    generate_tokens(model, constant_controls(n_bars, density=8, strength=3, plan=sample_plan(n_bars, key=None, seed=0)), seed=0)
    return time.perf_counter() - start


def best_of(repeats: int, *runs: Callable[[], float], better: Callable[..., float]) -> list[float]:
    """The best result of each run over ``repeats`` rounds, the runs taking turns within a round."""
    results = [[run() for run in runs] for _ in range(repeats)]
    return [better(column) for column in zip(*results, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    model, _ = load_model(args.model)
    result = {"params_m": round(model.n_params() / 1e6, 2), "context": model.config.context, "repeats": args.repeats}
    events_per_s(model, 100, kv_cache=True)  # warm-up
    for n in (500, 1000, 2000):
        cached, full = best_of(
            args.repeats, lambda n=n: events_per_s(model, n, kv_cache=True), lambda n=n: events_per_s(model, n, kv_cache=False), better=max
        )
        result |= {f"cached_events_per_s_{n}": round(cached, 1), f"recompute_events_per_s_{n}": round(full, 1)}
        result[f"cache_speedup_{n}"] = round(cached / full, 2)
        print(f"{n:>5} events: cache {cached:7.1f} ev/s, recompute {full:7.1f} ev/s, speed-up {cached / full:5.1f}x")
    one, eight = best_of(args.repeats, lambda: seconds_for_bars(model, 8), lambda: seconds_for_bars(model, 64), better=min)
    result |= {"seconds_8_bars": round(one, 2), "seconds_64_bars": round(eight, 2), "bars_8x_time_ratio": round(eight / one, 2)}
    print(f"8 bars {one:.2f} s, 64 bars {eight:.2f} s: ratio {eight / one:.2f} (linear: 8)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
