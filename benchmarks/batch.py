"""Batch scaling: the same clips in this process, then on a Ray cluster of one and of two single-CPU nodes.

    python benchmarks/batch.py [--clips 8] [--seconds 10]

Draws ``--clips`` procedural clips of ``--seconds`` each (640x360), then runs
the batch on them in this process, on a ``ray.cluster_utils.Cluster`` with
one single-CPU node (one worker) and, after adding a second single-CPU node,
on both (two workers, one per node), each into a fresh output folder. Prints
video-seconds per wall-second of each run, the two-node speed-up (target
>= 1.7) and Ray's overhead for one worker, as one JSON line. The nodes share
this machine, so the speed-up is bounded by its cores (and by what else runs).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from ray.cluster_utils import Cluster

from cmtlite.batch import Shipment, find_jobs, run_batch
from cmtlite.model import default_model_path
from cmtlite.video.clips import Scene, write_clip


def _run(name: str, clips: Path, out: Path, shipment: Shipment, result: dict, **where: object) -> None:
    summary = run_batch(find_jobs(str(clips), str(out)), out, shipment=shipment, **where)
    nodes = {r.get("node_id") for r in summary.records}
    speed = summary.video_s / summary.wall_s
    result[f"{name}_video_s_per_s"] = round(speed, 3)
    print(f"{name:>13}: {summary.ok} ok on {len(nodes)} node(s) in {summary.wall_s:.1f} s = {speed:.2f} video-s per s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    shipment = Shipment.build(default_model_path(), soundfont=None, ship_soundfont=False, device="cpu", threads=1)
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / "clips").mkdir()
        for i in range(args.clips):
            scene = Scene(duration_s=args.seconds, bounce_s=0.4 + 0.1 * (i % 4), travel=0.3 + 0.05 * i, background=(40 + 20 * i, 60, 90))
            write_clip(tmp / "clips" / f"clip{i}.mp4", [scene], size=(640, 360))
        _run("in_process_1", tmp / "clips", tmp / "in_process", shipment, result, workers=1, use_ray=False)
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            _run("ray_1_node", tmp / "clips", tmp / "one", shipment, result, workers=None, address=cluster.address)
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            _run("ray_2_nodes", tmp / "clips", tmp / "two", shipment, result, workers=None, address=cluster.address)
        finally:
            cluster.shutdown()
    result["speedup_2_nodes_over_1"] = round(result["ray_2_nodes_video_s_per_s"] / result["ray_1_node_video_s_per_s"], 2)
    result["ray_overhead_1_worker"] = round(result["in_process_1_video_s_per_s"] / result["ray_1_node_video_s_per_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    logging.getLogger("ray").setLevel(logging.ERROR)
    main()
