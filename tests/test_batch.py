"""`cmtlite batch`: a library of short clips (one broken), reports, skipping, resume after a kill, Ray."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from cmtlite.batch import find_jobs, path_seed
from cmtlite.batch.run import worker_slots
from cmtlite.soundtrack import MusicOptions
from cmtlite.video.clips import Scene, write_clip
from tests.conftest import SMALL_SOUNDFONT, assert_bad_input, needs_soundfont, run

pytestmark = needs_soundfont


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "library"
    (root / "sub dir").mkdir(parents=True)
    write_clip(root / "a.mp4", [Scene(duration_s=2.4, bounce_s=0.6)], size=(160, 96))
    write_clip(root / "sub dir" / "b.mkv", [Scene(duration_s=1.8, bounce_s=0.6)], size=(160, 96), codec="ffv1")
    (root / "broken.mp4").write_text("not a video")
    (root / "notes.txt").write_text("ignored")
    return root


def batch(library, out, model_file, *args):  # noqa: F811
    return run("batch", library, "-o", out, "--model", model_file, "--soundfont", SMALL_SOUNDFONT, "-q", *args)


def report(out):
    return {r["path"]: r for r in map(json.loads, (out / "batch_report.jsonl").read_text().splitlines())}


def test_in_process_batch_reports_skips_and_resumes(library, tmp_path, model_file):  # noqa: F811
    out = tmp_path / "out"
    result = batch(library, out, model_file)
    assert result.exit_code == 1, result.output  # one video failed
    assert "2 ok, 1 failed, 0 skipped" in result.output
    records = report(out)
    assert records["a.mp4"]["status"] == "ok" and set(records["a.mp4"]["seconds"]) >= {"analyze", "generate", "render", "mux"}
    assert records["broken.mp4"]["status"] == "failed" and "broken.mp4" in records["broken.mp4"]["error"]
    assert (out / "a.mp4").stat().st_size > 0 and (out / "sub dir" / "b.mp4").stat().st_size > 0
    assert records["a.mp4"]["seed"] == path_seed("a.mp4")
    assert_bad_input(batch(library, out, model_file), "--resume")
    first = (out / "a.mp4").read_bytes()
    result = batch(library, out, model_file, "--resume")
    assert result.exit_code == 1 and "0 ok, 1 failed, 2 skipped" in result.output
    assert (out / "a.mp4").read_bytes() == first


def test_manifest_options_override(library, tmp_path):
    manifest = library / "list.csv"
    manifest.write_text("path,seed,density_shift,instruments,key,tempo\na.mp4,7,2,drums,F#m,\nsub dir/b.mkv,,,,,96\n")
    jobs = find_jobs(str(manifest), str(tmp_path / "out"), music=MusicOptions(density_shift=1), base_seed=0)
    assert [j.name for j in jobs] == ["a.mp4", "sub dir/b.mkv"]
    assert jobs[0].music == MusicOptions(density_shift=2, seed=7, instruments=("drums",), key="F#m") and jobs[0].tempo_bpm is None
    assert jobs[1].music == MusicOptions(density_shift=1, seed=path_seed("sub dir/b.mkv")) and jobs[1].tempo_bpm == 96
    assert jobs[1].outputs == (str(tmp_path / "out" / "sub dir" / "b.mp4"),)
    (library / "bad.jsonl").write_text('{"seed": 3}\n')
    assert_bad_input(run("batch", library / "bad.jsonl", "-o", tmp_path / "o", "-q"), "no 'path'")
    (library / "bad.csv").write_text("path,instruments\na.mp4,kazoo\n")
    assert_bad_input(run("batch", library / "bad.csv", "-o", tmp_path / "o", "-q"), "a.mp4", "kazoo")


@pytest.mark.slow
def test_killed_batch_resumes_without_partial_files(library, tmp_path, model_file):  # noqa: F811
    (library / "broken.mp4").unlink()
    for i in range(3):
        write_clip(library / f"c{i}.mp4", [Scene(duration_s=3.0, bounce_s=0.5)], size=(160, 96))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cmtlite", "batch", str(library), "-o", str(out), "--model", str(model_file),
               "--soundfont", str(SMALL_SOUNDFONT), "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((out / "batch_report.jsonl").exists() and (out / "batch_report.jsonl").read_text()):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    done_before = len(report(out))
    assert 1 <= done_before < 5
    result = batch(library, out, model_file, "--resume")
    assert result.exit_code == 0, result.output
    assert {r["status"] for r in report(out).values()} <= {"ok", "skipped"} and len(report(out)) == 5
    assert not [p for p in out.rglob("*") if "partial" in p.name]
    assert sorted(p.name for p in out.rglob("*.mp4")) == ["a.mp4", "b.mp4", "c0.mp4", "c1.mp4", "c2.mp4"]


def test_bad_arguments(library, tmp_path, model_file):  # noqa: F811
    assert_bad_input(run("batch", tmp_path / "nowhere", "-o", tmp_path / "o", "-q"), "nowhere")
    assert_bad_input(batch(library, tmp_path / "o", model_file, "--workers", "0"), "--workers")
    assert_bad_input(batch(library, tmp_path / "o", model_file, "--instruments", "kazoo"), "kazoo")
    with socket.socket() as unused:  # a port nothing listens on: refused at once, not retried by Ray for minutes
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert_bad_input(batch(library, tmp_path / "o", model_file, "--address", f"127.0.0.1:{port}"), "--address", "no Ray cluster")
    (tmp_path / "junk.safetensors").write_bytes(b"x")
    assert_bad_input(run("batch", library, "-o", tmp_path / "o", "--model", tmp_path / "junk.safetensors", "-q"), "junk.safetensors")
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(os.environ.get("CMTLITE_SKIP_RAY") == "1", reason="CMTLITE_SKIP_RAY=1")
@pytest.mark.slow
def test_ray_local_batch(library, tmp_path, model_file):  # noqa: F811
    pytest.importorskip("ray")
    out = tmp_path / "out"
    result = batch(library, out, model_file, "--workers", "2")
    assert result.exit_code == 1, result.output
    records = report(out)
    assert records["a.mp4"]["status"] == "ok" and records["sub dir/b.mkv"]["status"] == "ok" and records["broken.mp4"]["status"] == "failed"
    in_process = tmp_path / "in_process"
    batch(library, in_process, model_file)
    assert (out / "a.mp4").stat().st_size > 0
    assert records["a.mp4"]["seed"] == report(in_process)["a.mp4"]["seed"]


def test_worker_slots_follow_cpus_and_gpus():
    assert worker_slots({"CPU": 4.0}, 0) == 4
    assert worker_slots({"CPU": 4.0, "GPU": 1.0}, 0.5) == 2
    assert worker_slots({"CPU": 4.0}, 1) == 0


@pytest.fixture(scope="module")
def s3_store():
    """A bucket on moto's S3 server (a real S3 API on 127.0.0.1), found through the standard AWS variables."""
    moto_server = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                            "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
            patch.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()
        fs = s3fs.S3FileSystem()
        fs.mkdir("videos")
        yield fs
        s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def upload(fs, library, prefix):
    for path in sorted(library.rglob("*")):
        if path.is_file():
            fs.put_file(str(path), f"{prefix}/{path.relative_to(library).as_posix()}")


def s3_report(fs, prefix):
    fs.invalidate_cache()
    return {r["path"]: r for r in map(json.loads, fs.cat_file(f"{prefix}/batch_report.jsonl").decode().splitlines())}


def test_batch_from_and_to_s3(library, s3_store, model_file):  # noqa: F811
    upload(s3_store, library, "videos/in1")
    result = batch("s3://videos/in1", "s3://videos/out1", model_file, "--midi")
    assert result.exit_code == 1 and "2 ok, 1 failed, 0 skipped" in result.output, result.output
    s3_store.invalidate_cache()
    written = sorted(p.removeprefix("videos/out1/") for p in s3_store.find("videos/out1"))
    assert written == ["a.mid", "a.mp4", "batch_report.jsonl", "sub dir/b.mid", "sub dir/b.mp4"]
    records = s3_report(s3_store, "videos/out1")
    assert records["a.mp4"]["output"] == "s3://videos/out1/a.mp4" and records["a.mp4"]["host"]
    assert {"fetch", "analyze", "generate", "render", "mux", "store"} <= set(records["a.mp4"]["seconds"])
    assert "broken.mp4" in records["broken.mp4"]["error"]
    s3_store.rm_file("videos/out1/sub dir/b.mid")  # an unfinished job: one of its outputs is missing
    s3_store.pipe_file("videos/out1/.a.partial-0123.mp4", b"half")  # left by a killed worker
    result = batch("s3://videos/in1", "s3://videos/out1", model_file, "--midi", "--resume")
    assert result.exit_code == 1 and "1 ok, 1 failed, 1 skipped" in result.output, result.output
    s3_store.invalidate_cache()
    assert s3_store.exists("videos/out1/sub dir/b.mid") and not s3_store.exists("videos/out1/.a.partial-0123.mp4")
    lines = s3_store.cat_file("videos/out1/batch_report.jsonl").decode().splitlines()
    assert len(lines) == 6  # the first run's records and the second's
    s3_store.pipe_file("videos/lists/two.jsonl", b'{"path": "s3://videos/in1/a.mp4"}\n{"path": "local/c.mp4", "seed": 5}\n')
    jobs = find_jobs("s3://videos/lists/two.jsonl", "s3://videos/out3/")
    assert [(j.video, j.outputs, j.music.seed) for j in jobs] == [
        ("s3://videos/in1/a.mp4", ("s3://videos/out3/videos/in1/a.mp4",), path_seed("videos/in1/a.mp4")),
        ("s3://videos/lists/local/c.mp4", ("s3://videos/out3/local/c.mp4",), 5),
    ]


@pytest.fixture(scope="module")
def two_nodes(s3_store):
    """A Ray cluster of two single-CPU nodes on this machine (they see the S3 variables)."""
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def _kill_one_worker_mid_video(batch_process, timeout_s=180.0):
    """SIGKILL the first Ray actor seen soundtracking a video; the pid killed."""
    import psutil

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and batch_process.poll() is None:
        for process in psutil.process_iter(["pid", "cmdline"]):
            if any(part.startswith("ray::RayWorker.run") for part in process.info["cmdline"] or ()):
                os.kill(process.info["pid"], signal.SIGKILL)
                return process.info["pid"]
        time.sleep(0.05)
    return None


@pytest.mark.skipif(os.environ.get("CMTLITE_SKIP_RAY") == "1", reason="CMTLITE_SKIP_RAY=1")
@pytest.mark.slow
def test_two_node_cluster_from_s3_survives_a_killed_worker(library, s3_store, two_nodes, model_file):  # noqa: F811
    (library / "broken.mp4").unlink()
    for i in range(3):
        write_clip(library / f"c{i}.mp4", [Scene(duration_s=3.0, bounce_s=0.5)], size=(160, 96))
    upload(s3_store, library, "videos/in2")
    command = [sys.executable, "-m", "cmtlite", "batch", "s3://videos/in2", "-o", "s3://videos/out2", "--address", two_nodes.address,
               "--model", str(model_file), "--soundfont", str(SMALL_SOUNDFONT), "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    assert _kill_one_worker_mid_video(process) is not None
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stdout + stderr
    assert "5 ok, 0 failed, 0 skipped" in stdout
    records = s3_report(s3_store, "videos/out2")
    assert {r["status"] for r in records.values()} == {"ok"} and len(records) == 5  # Ray retried the killed worker's video
    assert len({r["node_id"] for r in records.values()}) == 2 and all(len(r["node_id"]) == 56 for r in records.values())
    s3_store.invalidate_cache()
    assert not [p for p in s3_store.find("videos/out2") if ".partial-" in p]
    result = batch("s3://videos/in2", "s3://videos/out2", model_file, "--address", two_nodes.address, "--resume")
    assert result.exit_code == 0 and "0 ok, 0 failed, 5 skipped" in result.output, result.output


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_batch_worker_samples_on_a_gpu(library, tmp_path, model_file):  # noqa: F811
    pytest.importorskip("ray")
    (library / "broken.mp4").unlink()
    out = tmp_path / "out"
    result = batch(library, out, model_file, "--gpus-per-worker", "0.5")
    assert result.exit_code == 0, result.output
    assert {r["status"] for r in report(out).values()} == {"ok"} and all(r["node_id"] for r in report(out).values())
