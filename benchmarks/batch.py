"""Batch scaling: the same clips on one and on two single-CPU Ray nodes (and in this process, for Ray's overhead).

    python benchmarks/batch.py [--clips 16] [--seconds 10] [--rounds 2]

Draws ``--clips`` procedural clips of ``--seconds`` each (640x360) and runs
the batch on them in this process, then on a ``ray.cluster_utils.Cluster``
of two single-CPU nodes, each pinned to its own core (its raylet and every
worker it starts), as a one-core machine would be: a worker alone would
otherwise spread its decoding threads over every core of this machine. Each
round runs the batch with one worker (one node busy) and then with two (one
per node), each into a fresh output folder; rounds alternate, so a change
in what else runs on the machine touches both. Prints video-seconds per
wall-second of every run, and as one JSON line the best of each, the
two-node speed-up (target >= 1.7; best against best, and round by round)
and Ray's overhead for one worker. Each node pays a fixed start-up (its
actor's process, imports and model fetch, about 2.5 s here) that a batch
amortizes: 16 clips of 10 s make each node's share of the work several
times that start-up.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from collections import Counter
from pathlib import Path

import psutil
from ray.cluster_utils import Cluster

from cmtlite.batch import Shipment, find_jobs, run_batch
from cmtlite.model import default_model_path
from cmtlite.video.clips import Scene, write_clip


def _run(name: str, clips: Path, out: Path, shipment: Shipment, **where: object) -> float:
    summary = run_batch(find_jobs(str(clips), str(out)), out, shipment=shipment, **where)
    nodes = Counter(str(r.get("node_id"))[:8] for r in summary.records)
    speed = summary.video_s / summary.wall_s
    print(f"{name:>13}: {summary.ok} ok in {summary.wall_s:.1f} s = {speed:.2f} video-s per s; videos per node {dict(nodes)}")
    return speed


def _pin(node, core: int) -> None:
    """Keep a Ray node's raylet and its workers (those running and those it will start) on one core."""
    for info in node.all_processes["raylet"]:
        raylet = psutil.Process(info.process.pid)
        for process in [raylet, *raylet.children(recursive=True)]:
            os.sched_setaffinity(process.pid, {core})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    shipment = Shipment.build(default_model_path(), soundfont=None, ship_soundfont=False, device="cpu", threads=1)
    speeds: dict[str, list[float]] = {"in_process": [], "ray_1_node": [], "ray_2_nodes": []}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / "clips").mkdir()
        for i in range(args.clips):
            look = i % 8
            scene = Scene(duration_s=args.seconds, bounce_s=0.4 + 0.1 * (i % 4), travel=0.3 + 0.05 * look,
                          background=(40 + 20 * look, 60, 90))
            write_clip(tmp / "clips" / f"clip{i}.mp4", [scene], size=(640, 360))
        speeds["in_process"].append(_run("in_process", tmp / "clips", tmp / "in_process", shipment, workers=1, use_ray=False))
        cores = sorted(os.sched_getaffinity(0))
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            _pin(cluster.head_node, cores[0])
            _pin(cluster.add_node(num_cpus=1), cores[1 % len(cores)])
            cluster.wait_for_nodes()
            for round_ in range(args.rounds):
                for name, workers in (("ray_1_node", 1), ("ray_2_nodes", 2)):
                    out = tmp / f"{name}_{round_}"
                    speeds[name].append(_run(name, tmp / "clips", out, shipment, workers=workers, address=cluster.address))
        finally:
            cluster.shutdown()
    best = {f"{name}_video_s_per_s": round(max(values), 3) for name, values in speeds.items()}
    best["speedup_2_nodes_over_1"] = round(max(speeds["ray_2_nodes"]) / max(speeds["ray_1_node"]), 2)
    best["speedup_per_round"] = [round(two / one, 2) for one, two in zip(speeds["ray_1_node"], speeds["ray_2_nodes"], strict=True)]
    best["ray_overhead_1_worker"] = round(max(speeds["in_process"]) / max(speeds["ray_1_node"]), 2)
    print(json.dumps(best))


if __name__ == "__main__":
    logging.getLogger("ray").setLevel(logging.ERROR)
    main()
