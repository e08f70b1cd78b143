"""Is the tune heard? The lead's loudness against the band's in rendered soundtracks.

    python benchmarks/lead_level.py [--seeds 51,52,53] [--out reports/lead_level.json]

Soundtracks procedural clips the settings were not tuned on (``cmtlite.video.clips``,
seeds 51..53, shots that return) with the shipped model through ``cmtlite generate
--stems``, then measures each family's stem (float WAVs at the mix's gain) with
pyloudnorm (EBU R128 integrated loudness, the same meter as the mastering) and prints
the lead's loudness minus the loudness of the sum of every other stem (LU): near 0 the
tune stands level with the whole band, well below it is buried. Also the lead against
each part alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyloudnorm
from scipy.io import wavfile

from cmtlite.constants import REPO_ROOT
from cmtlite.video.clips import Scene, write_clip

SIZE = (480, 270)


def _scenes(seed: int) -> list[Scene]:
    rng = np.random.default_rng(seed)
    looks = [dict(background=tuple(int(c) for c in rng.integers(20, 235, 3)), ball=tuple(int(c) for c in rng.integers(20, 235, 3)))
             for _ in range(2)]
    return [Scene(duration_s=float(rng.uniform(6, 10)), bounce_s=float(rng.uniform(0.4, 0.9)), travel=float(rng.uniform(0.2, 0.8)),
                  **looks[k % 2]) for k in range(4)]


def _loudness(audio: np.ndarray, rate: int) -> float:
    return float(pyloudnorm.Meter(rate).integrated_loudness(audio))


def measure(seed: int, folder: Path) -> dict:
    clip = write_clip(folder / f"clip{seed}.mp4", _scenes(seed), size=SIZE, force=True)
    stems = folder / f"stems{seed}"
    command = [sys.executable, "-m", "cmtlite", "generate", str(clip), "--stems", str(stems), "--seed", str(seed), "-q", "--force"]
    subprocess.run(command, check=True, capture_output=True, cwd=REPO_ROOT)  # noqa: S603
    audio = {}
    for path in sorted(stems.glob("*.wav")):
        rate, data = wavfile.read(path)
        audio[path.stem] = data.astype(np.float64)
    band = sum(a for name, a in audio.items() if name != "lead")
    row = {"clip": f"seed{seed}", "lead_lufs": round(_loudness(audio["lead"], rate), 2), "band_lufs": round(_loudness(band, rate), 2)}
    row["lead_minus_band_lu"] = round(row["lead_lufs"] - row["band_lufs"], 2)
    row |= {f"lead_minus_{name}_lu": round(row["lead_lufs"] - _loudness(a, rate), 2) for name, a in audio.items() if name != "lead"}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="51,52,53")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "lead_level.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cmtlite-lead-") as tmp:
        rows = [measure(int(s), Path(tmp)) for s in args.seeds.split(",")]
    for row in rows:
        print(json.dumps(row))
    mean = round(float(np.mean([r["lead_minus_band_lu"] for r in rows])), 2)
    print(f"lead minus band: {mean} LU (mean of {len(rows)})")
    args.out.write_text(json.dumps({"rows": rows, "mean_lead_minus_band_lu": mean}, indent=1) + "\n")


if __name__ == "__main__":
    main()
