"""`cmtlite batch`: a library of short clips (one broken), reports, skipping, resume after a kill, Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cmtlite.batch import find_jobs, path_seed
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
    manifest.write_text("path,seed,density_shift,instruments,key\na.mp4,7,2,drums,F#m\nsub dir/b.mkv,,,,\n")
    jobs = find_jobs(manifest, tmp_path / "out", defaults={"density_shift": 0}, base_seed=0)
    assert [j.name for j in jobs] == ["a.mp4", "sub dir/b.mkv"]
    assert jobs[0].options == {"density_shift": 2, "seed": 7, "instruments": "drums", "key": "F#m"}
    assert jobs[1].options == {"density_shift": 0, "seed": path_seed("sub dir/b.mkv")}
    assert jobs[1].output == tmp_path / "out" / "sub dir" / "b.mp4"
    (library / "bad.jsonl").write_text('{"seed": 3}\n')
    assert_bad_input(run("batch", library / "bad.jsonl", "-o", tmp_path / "o", "-q"), "no 'path'")


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
