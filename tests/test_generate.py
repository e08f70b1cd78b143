"""Video -> soundtrack from outside: outputs, alignment, determinism, controls, modes and bad input."""

from __future__ import annotations

import json

import av
import mido
import numpy as np
import pyloudnorm
import pytest
from scipy.io import wavfile

from cmtlite.constants import MODEL_PATH
from cmtlite.mux import video_duration_s
from cmtlite.render import SAMPLE_RATE
from tests.test_cli import assert_bad_input, run
from tests.test_mux import audio_duration_s, packets, sound_clip  # noqa: F401 - the fixture
from tests.test_render import SMALL_SOUNDFONT, needs_soundfont
from tests.test_sampler import model, model_file  # noqa: F401 - fixtures

pytestmark = needs_soundfont


def generate(clip, *args, model_path):
    return run("generate", clip, "--model", model_path, "--soundfont", SMALL_SOUNDFONT, "-q", *args)


def note_ons_s(path):
    """Onset times (s) of a MIDI file; asserts every note-on has its note-off."""
    onsets, sounding, now = [], {}, 0.0
    for message in mido.MidiFile(str(path)):
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            onsets.append(now)
            sounding[(message.channel, message.note)] = sounding.get((message.channel, message.note), 0) + 1
        elif message.type in {"note_off", "note_on"}:
            sounding[(message.channel, message.note)] -= 1
    assert not any(sounding.values()), "dangling note-ons"
    return np.array(onsets)


@pytest.fixture(scope="module")
def generated(bounce_clip, model_file, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("generated")
    controls = out / "controls.json"
    assert run("analyze", bounce_clip, "-o", controls, "-q").exit_code == 0
    files = {"video": out / "out.mp4", "midi": out / "out.mid", "wav": out / "out.wav", "plot": out / "out.png", "stems": out / "stems"}
    result = generate(
        bounce_clip, "-o", files["video"], "--midi", files["midi"], "--wav", files["wav"], "--plot", files["plot"],
        "--stems", files["stems"], "--loudness", -18, model_path=model_file,
    )
    assert result.exit_code == 0, result.output
    return files, json.loads(controls.read_text())


def test_video_wav_and_stems(generated, bounce_clip):
    files, _ = generated
    duration = video_duration_s(bounce_clip)
    assert [p[0] for p in packets(files["video"])] == [p[0] for p in packets(bounce_clip)]
    assert abs(audio_duration_s(files["video"]) - duration) <= 1024 / SAMPLE_RATE
    rate, wav = wavfile.read(files["wav"])
    assert rate == SAMPLE_RATE and len(wav) == round(duration * SAMPLE_RATE)
    assert pyloudnorm.Meter(rate).integrated_loudness(wav / 32768.0) == pytest.approx(-18, abs=1.0)
    assert np.abs(wav[-100:]).max() < 0.01 * 32768  # faded out
    assert sorted(p.name for p in files["stems"].iterdir()) == ["bass.wav", "drums.wav", "guitar.wav", "piano.wav", "strings.wav"]
    assert files["plot"].read_bytes()[:4] == b"\x89PNG"


def test_midi_tempo_onsets_on_visual_beats_and_no_dangling_notes(generated, bounce_clip):
    files, controls = generated
    midi = mido.MidiFile(str(files["midi"]))
    tempos = [m.tempo for track in midi.tracks for m in track if m.type == "set_tempo"]
    assert mido.tempo2bpm(tempos[0]) == pytest.approx(controls["tempo_bpm"], abs=0.01)
    onsets = note_ons_s(files["midi"])
    assert onsets.min() >= 0 and onsets.max() < controls["duration_s"]
    assert midi.length <= controls["duration_s"] + 0.005  # notes cut at the video's end (+ the end-of-track tick)
    for beat in controls["visual_beats"]:
        assert np.abs(onsets - beat["time_s"]).min() <= 0.07, beat


def test_same_seed_same_midi_other_seed_and_density_shift(bounce_clip, model_file, tmp_path):  # noqa: F811
    controls = tmp_path / "controls.json"
    run("analyze", bounce_clip, "-o", controls, "-q")
    paths = {}
    runs = {"a": ["--seed", 1], "b": ["--seed", 1], "c": ["--seed", 2], "low": ["--density-shift", -4], "high": ["--density-shift", 4]}
    for name, args in runs.items():
        paths[name] = tmp_path / f"{name}.mid"
        result = generate(controls, "--midi", paths[name], *args, model_path=model_file)
        assert result.exit_code == 0, result.output
    assert paths["a"].read_bytes() == paths["b"].read_bytes()
    assert paths["a"].read_bytes() != paths["c"].read_bytes()
    counts = [len(np.unique(np.round(note_ons_s(paths[n]), 4))) for n in ("low", "c", "high")]
    assert counts[0] < counts[1] < counts[2], counts


def test_original_audio_default_and_modes(sound_clip, bounce_clip, model_file, tmp_path):  # noqa: F811
    for clip, mode in ((sound_clip, None), (sound_clip, "keep"), (sound_clip, "drop"), (bounce_clip, "duck")):
        out = tmp_path / f"{clip.stem}_{mode}.mp4"
        mode_args = ["--original-audio", mode] if mode else []
        result = generate(clip, "-o", out, *mode_args, "--instruments", "piano,bass", model_path=model_file)
        assert result.exit_code == 0, result.output
        with av.open(str(out)) as container:
            assert len(container.streams.audio) == 1
        assert [p[0] for p in packets(out)] == [p[0] for p in packets(clip)]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], ["at least one of"]),
        (["-o", "{tmp}/x.webm"], ["-o"]),
        (["--midi", "{tmp}/x.mid", "--instruments", "tuba"], ["tuba"]),
        (["--midi", "{tmp}/x.mid", "--tempo", "5"], ["tempo"]),
        (["--wav", "{tmp}/x.wav", "--loudness", "3"], ["--loudness"]),
        (["--wav", "{tmp}/x.wav", "--fade-out", "-1"], ["--fade-out"]),
        (["--wav", "{tmp}/x.wav", "--soundfont", "{tmp}/none.sf2"], ["none.sf2"]),
        (["--midi", "{tmp}/existing.mid"], ["exists"]),
    ],
)
def test_generate_bad_input(bounce_clip, model_file, tmp_path, args, words):  # noqa: F811
    (tmp_path / "existing.mid").write_text("keep")
    args = [a.format(tmp=tmp_path) if isinstance(a, str) else a for a in args]
    assert_bad_input(generate(bounce_clip, *args, model_path=model_file), *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.mid"]
    assert (tmp_path / "existing.mid").read_text() == "keep"


def test_generate_bad_model_and_inputs(bounce_clip, tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    (tmp_path / "bad.json").write_text("{}")
    out = ["--midi", tmp_path / "x.mid"]
    assert_bad_input(generate(bounce_clip, *out, model_path=tmp_path / "bad.safetensors"), "bad.safetensors")
    assert_bad_input(generate(tmp_path / "bad.json", *out, model_path=MODEL_PATH), "controls.json")
    assert_bad_input(generate(tmp_path / "missing.mp4", *out, model_path=MODEL_PATH), "missing.mp4")
    assert not (tmp_path / "x.mid").exists()


def test_demo_with_the_shipped_model(tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    names = {"clip.mp4", "controls.json", "demo.mp4", "demo.mid", "demo.wav", "demo.png"}
    assert {p.name for p in out.iterdir()} == names
    assert set(result.output.split()) == {str(out / n) for n in names}
    controls = json.loads((out / "controls.json").read_text())
    assert abs(controls["tempo_bpm"] - 100) <= 2 and len(controls["scene_cuts_s"]) == 3
    families = {t.name for t in mido.MidiFile(str(out / "demo.mid")).tracks if t.name}
    assert len(families) >= 3  # a band, not one instrument
    assert abs(audio_duration_s(out / "demo.mp4") - video_duration_s(out / "clip.mp4")) <= 1024 / SAMPLE_RATE
    assert_bad_input(run("demo", "-o", out, "-q"), "exists")
