"""Codec speed against plain MIDI parsing, on the same files in one run.

    python benchmarks/prepare.py [MIDI_DIR ...] [--limit N]

Default files: the first 200 POP909 songs and the 12 Lakh songs in
../shared/data (plain MIDI reading, no MMA arranging). Prints pieces/s for
parsing alone (miditoolkit), encoding (parse + quantize + CP tokens) and
decoding (tokens -> score -> MIDI file), and the ratio encode time / parse
time (target <= 3), as one JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import miditoolkit

from cmtlite.constants import REPO_ROOT
from cmtlite.tokens.codec import decode, encode
from cmtlite.tokens.midi import read_midi, write_midi

DATA = REPO_ROOT.parent / "shared" / "data"


def timed(fn, paths: list[Path]) -> float:  # noqa: ANN001
    start = time.perf_counter()
    for path in paths:
        fn(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path)
    parser.add_argument("--limit", type=int, default=200, help="files per directory")
    args = parser.parse_args()
    dirs = args.dirs or [DATA / "pop909", DATA / "lakh_sample"]
    paths = [p for d in dirs for p in sorted(d.rglob("*.mid"))[: args.limit]]
    if not paths:
        msg = f"no MIDI files in {', '.join(map(str, dirs))}"
        raise SystemExit(msg)
    tokens = {p: encode(read_midi(p)[0]) for p in paths}  # warm the file cache and keep the tokens
    parse_s = timed(lambda p: miditoolkit.MidiFile(str(p)), paths)
    encode_s = timed(lambda p: encode(read_midi(p)[0]), paths)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x.mid"
        decode_s = timed(lambda p: write_midi(decode(tokens[p], tempo_bpm=120), out), paths)
    n = len(paths)
    result = {
        "files": n,
        "parse_pieces_per_s": round(n / parse_s, 1),
        "encode_pieces_per_s": round(n / encode_s, 1),
        "decode_pieces_per_s": round(n / decode_s, 1),
        "encode_over_parse": round(encode_s / parse_s, 2),
        "target_encode_over_parse": 3.0,
    }
    for key, value in result.items():
        print(f"{key:>26}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
