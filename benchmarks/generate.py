"""Sampling speed: KV cache against full recompute, and linearity in the number of bars.

    python benchmarks/generate.py [--model PATH]

With the shipped model on the CPU: events (tokens) per second with the KV
cache and with the whole window recomputed for every token, at 500, 1,000
and 2,000 events (target: cache / recompute >= 10 at 2,000), and the time for
64 bars divided by the time for 8 bars (target <= 10; 8 is linear). Density
and strength are forced, so every bar has the same number of events. Prints
a JSON line with the figures at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cmtlite.constants import MODEL_PATH
from cmtlite.model import load_model
from cmtlite.sampler import constant_controls, generate_tokens

BARS_FOR_EVENTS = 200  # more bars than any event count below needs: runs stop at max_tokens


def events_per_s(model, n_events: int, *, kv_cache: bool) -> float:  # noqa: ANN001
    controls = constant_controls(BARS_FOR_EVENTS, density=8, strength=None)
    start = time.perf_counter()
    tokens = generate_tokens(model, controls, seed=0, kv_cache=kv_cache, max_tokens=n_events)
    return (len(tokens) - 1) / (time.perf_counter() - start)


def seconds_for_bars(model, n_bars: int) -> float:  # noqa: ANN001
    start = time.perf_counter()
    generate_tokens(model, constant_controls(n_bars, density=8, strength=3), seed=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    model, _ = load_model(args.model)
    result = {"params_m": round(model.n_params() / 1e6, 2), "context": model.config.context}
    for n in (500, 1000, 2000):
        cached, full = events_per_s(model, n, kv_cache=True), events_per_s(model, n, kv_cache=False)
        result |= {f"cached_events_per_s_{n}": round(cached, 1), f"recompute_events_per_s_{n}": round(full, 1)}
        result[f"cache_speedup_{n}"] = round(cached / full, 2)
        print(f"{n:>5} events: cache {cached:7.1f} ev/s, recompute {full:7.1f} ev/s, speed-up {cached / full:5.1f}x")
    seconds_for_bars(model, 2)  # warm-up
    one, eight = seconds_for_bars(model, 8), seconds_for_bars(model, 64)
    result |= {"seconds_8_bars": round(one, 2), "seconds_64_bars": round(eight, 2), "bars_8x_time_ratio": round(eight / one, 2)}
    print(f"8 bars {one:.2f} s, 64 bars {eight:.2f} s: ratio {eight / one:.2f} (linear: 8)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
