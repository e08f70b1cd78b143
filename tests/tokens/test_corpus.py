"""`cmtlite prepare`: walking data directories, skipping bad files, splits, reproducibility, layout."""

from __future__ import annotations

import json
import shutil

import miditoolkit
import numpy as np
import pytest

from cmtlite.errors import ConfigError
from cmtlite.tokens.codec import decode, make_score
from cmtlite.tokens.corpus import TD11_TO_GM, load_corpus, prepare_corpus, split_groups
from cmtlite.tokens.midi import read_midi, write_midi
from cmtlite.tokens.vocab import FIELDS, VOCAB_SIZES
from tests.conftest import assert_bad_input, needs_mma, random_score, run, write_song


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    plain = root / "plain"
    plain.mkdir(parents=True)
    for i in range(6):
        write_midi(random_score(i), plain / f"piece{i}.mid")
    write_midi(make_score([[1, 60, 0, 4]], tempo_bpm=100)[0], plain / "short.mid")
    (plain / "broken.mid").write_text("not a midi file")
    (plain / "notes.txt").write_text("ignored: not a MIDI file name")
    write_song(root / "song" / "001")
    return root


def prepare(data_dir, out, **kwargs):
    return prepare_corpus([data_dir], out, workers=1, quiet=True, **{"arrange": "none", **kwargs})


def test_prepare_counts_splits_and_round_trips(data_dir, tmp_path):
    meta = prepare(data_dir, tmp_path / "corpus", val_fraction=0.3)
    assert meta["skipped"] == {"too short (< 4 bars or < 16 notes)": 1, "unreadable": 1}
    assert {f["piece"] for f in meta["skipped_files"]} == {"data/plain/short.mid", "data/plain/broken.mid"}
    assert meta["splits"]["train"]["pieces"] + meta["splits"]["val"]["pieces"] == 7
    assert meta["splits"]["val"]["pieces"] == 2  # round(0.3 * 7 songs)
    assert meta["vocab_sizes"] == dict(zip(FIELDS, VOCAB_SIZES, strict=True))
    assert sum(meta["statistics"]["bar_density_histogram"]) == sum(p["n_bars"] for p in meta["pieces"]["train"])
    chords = meta["statistics"]["chords"]
    assert sum(chords["tick_share"].values()) == pytest.approx(1, abs=1e-3) and chords["changes_per_bar"] > 0
    _, splits = load_corpus(tmp_path / "corpus")
    for split, pieces in meta["pieces"].items():
        assert splits[split].tokens.dtype == np.int16 and len(splits[split]) == len(pieces)
        for index, piece in enumerate(pieces):
            if piece["name"].startswith("data/plain/"):
                original, _ = read_midi(data_dir / piece["name"].removeprefix("data/"))
                back = decode(splits[split].piece(index), tempo_bpm=piece["tempo_bpm"])
                np.testing.assert_array_equal(back.notes, original.notes)


def test_rerun_is_byte_identical_and_seed_changes_split(data_dir, tmp_path):
    prepare(data_dir, tmp_path / "a", val_fraction=0.3)
    prepare(data_dir, tmp_path / "b", val_fraction=0.3)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["meta.json", "train.npy", "train_offsets.npy", "val.npy", "val_offsets.npy"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    splits = {tuple(sorted(split_groups([str(i) for i in range(20)], val_fraction=0.2, seed=s))) for s in range(5)}
    assert len(splits) > 1


def test_split_keeps_a_songs_arrangements_together():
    groups = [f"song{i // 3}" for i in range(30)]
    val = split_groups(groups, val_fraction=0.2, seed=1)
    assert len(val) == 2 and val <= set(groups)


def test_groove_dataset_is_mapped_to_gm_and_filtered(tmp_path):
    root = tmp_path / "groove"
    (root / "drummer1").mkdir(parents=True)
    midi = miditoolkit.MidiFile(ticks_per_beat=480)
    kit = miditoolkit.Instrument(0, is_drum=True)
    kit.notes = [miditoolkit.Note(90, pitch, i * 240, i * 240 + 60) for i in range(64) for pitch in (22, 36)]
    midi.instruments = [kit]
    midi.dump(str(root / "drummer1" / "a.mid"))
    midi.dump(str(root / "drummer1" / "b.mid"))
    (root / "info.csv").write_text("drummer,midi_filename,time_signature\nd1,drummer1/a.mid,4-4\nd1,drummer1/b.mid,3-4\n")
    meta = prepare(root, tmp_path / "corpus", val_fraction=0)
    assert meta["skipped"] == {"not 4/4 (Groove info.csv)": 1}
    _, splits = load_corpus(tmp_path / "corpus")
    pitches = set(decode(splits["train"].piece(0), tempo_bpm=120).notes[:, 1].tolist())
    assert pitches == {TD11_TO_GM[22], 36} == {42, 36}  # closed hi-hat edge -> GM closed hi-hat


@needs_mma
def test_mma_arrangements_per_song(data_dir, tmp_path):
    meta = prepare(data_dir, tmp_path / "corpus", arrange="mma", grooves_per_song=2, val_fraction=0)
    songs = [p for p in meta["pieces"]["train"] if p["name"].startswith("data/song/")]
    assert len(songs) == 2 and len({p["groove"] for p in songs}) == 2
    assert sum(meta["arrange"]["grooves_used"].values()) == 2
    assert meta["splits"]["train"]["family_note_tokens"]["bass"] > 0


def test_existing_corpus_is_refused_without_force(data_dir, tmp_path):
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "keep").write_text("x")
    result = run("prepare", data_dir, "-o", out, "--arrange", "none", "--workers", "1", "-q")
    assert_bad_input(result, "exists")
    assert (out / "keep").read_text() == "x"
    result = run("prepare", data_dir, "-o", out, "--arrange", "none", "--workers", "1", "-q", "--force")
    assert result.exit_code == 0, result.output
    assert not (out / "keep").exists() and (out / "meta.json").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["missing_dir"], ["not a directory"]),
        (["{data}", "--val-fraction", "1.5"], ["--val-fraction"]),
        (["{data}", "--workers", "0"], ["--workers"]),
        (["{data}", "--arrange", "magic"], ["--arrange"]),
        (["{empty}"], ["no MIDI files"]),
    ],
)
def test_prepare_bad_input(data_dir, tmp_path, args, words):
    (tmp_path / "empty").mkdir()
    args = [a.format(data=data_dir, empty=tmp_path / "empty") for a in args]
    result = run("prepare", *args, "-o", tmp_path / "out", "-q")
    assert_bad_input(result, *words)
    assert not (tmp_path / "out").exists()


def test_load_corpus_rejects_other_directories(tmp_path, data_dir):
    with pytest.raises(ConfigError, match="not a prepared corpus"):
        load_corpus(tmp_path)
    prepare(data_dir, tmp_path / "corpus")
    meta = json.loads((tmp_path / "corpus" / "meta.json").read_text())
    meta["vocab_sizes"]["pitch"] = 7
    (tmp_path / "corpus" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="prepare it again"):
        load_corpus(tmp_path / "corpus")


def test_parallel_matches_serial(data_dir, tmp_path):
    prepare(data_dir, tmp_path / "serial")
    prepare_corpus([data_dir], tmp_path / "parallel", arrange="none", workers=2, quiet=True)
    for name in ("train.npy", "meta.json"):
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "parallel" / name).read_bytes()
    shutil.rmtree(tmp_path / "parallel")
