"""Video -> soundtrack from outside: outputs, alignment, determinism, controls, modes and bad input."""

from __future__ import annotations

import json

import av
import miditoolkit
import mido
import numpy as np
import pyloudnorm
import pytest
from scipy.io import wavfile

from cmtlite.audio.render import SAMPLE_RATE
from cmtlite.constants import MODEL_PATH
from cmtlite.controls import VideoControls
from cmtlite.video.decode import probe_video
from tests.conftest import SMALL_SOUNDFONT, assert_bad_input, audio_duration_s, needs_soundfont, packets, run

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
    files = {"video": out / "out.mp4", "midi": out / "out.mid", "wav": out / "out.wav", "plot": out / "out.png", "stems": out / "stems",
             "controls": controls}
    result = generate(
        bounce_clip, "-o", files["video"], "--midi", files["midi"], "--wav", files["wav"], "--plot", files["plot"],
        "--stems", files["stems"], "--loudness", -18, model_path=model_file,
    )
    assert result.exit_code == 0, result.output
    return files, json.loads(controls.read_text())


def markers(path):
    return [m.text for m in sorted(miditoolkit.MidiFile(str(path)).markers, key=lambda m: m.time)]


def test_the_midi_carries_the_plan(generated):
    files, controls = generated
    texts = markers(files["midi"])
    assert [t for t in texts if t.startswith("section ")] == [f"section {s['label']}" for s in controls["sections"]]
    assert [t for t in texts if t.startswith("chord ")] == [f"chord {c['label']}" for c in controls["chords"]]
    assert texts.count("cut") == len(controls["scene_cuts_s"])


def test_hand_edited_chords_and_a_new_key_are_followed(generated, bounce_clip, model_file, tmp_path):  # noqa: F811
    _, controls = generated
    edited = tmp_path / "controls.json"
    edited.write_text(json.dumps({**controls, "video_path": str(bounce_clip), "chords": [{"bar": 0, "label": "D:min"}]}))
    assert generate(edited, "--midi", tmp_path / "d.mid", model_path=model_file).exit_code == 0
    assert [t for t in markers(tmp_path / "d.mid") if t.startswith("chord")] == ["chord D:min"]
    bass = [n for t in miditoolkit.MidiFile(str(tmp_path / "d.mid")).instruments if t.program == 33 for n in t.notes]
    lowest = {}
    for note in bass:
        lowest[note.start] = min(lowest.get(note.start, 128), note.pitch)
    assert lowest and {p % 12 for p in lowest.values()} <= {2, 5, 9}
    assert generate(edited, "--midi", tmp_path / "e.mid", "--key", "E", model_path=model_file).exit_code == 0
    chords = [t for t in markers(tmp_path / "e.mid") if t.startswith("chord")]
    assert chords[-1] == "chord E:maj" and len(chords) > 1


def test_video_wav_and_stems(generated, bounce_clip):
    files, _ = generated
    duration = probe_video(bounce_clip).duration_s
    assert [p[0] for p in packets(files["video"])] == [p[0] for p in packets(bounce_clip)]
    assert abs(audio_duration_s(files["video"]) - duration) <= 1024 / SAMPLE_RATE
    rate, wav = wavfile.read(files["wav"])
    assert rate == SAMPLE_RATE and len(wav) == round(duration * SAMPLE_RATE)
    assert pyloudnorm.Meter(rate).integrated_loudness(wav / 32768.0) == pytest.approx(-18, abs=1.0)
    assert np.abs(wav[-100:]).max() < 0.01 * 32768  # faded out
    playing = {t.name for t in mido.MidiFile(str(files["midi"])).tracks if t.name}
    assert sorted(p.name for p in files["stems"].iterdir()) == sorted(f"{name}.wav" for name in playing)  # no silent stems
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


@pytest.mark.slow
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
    assert abs(audio_duration_s(out / "demo.mp4") - probe_video(out / "clip.mp4").duration_s) <= 1024 / SAMPLE_RATE
    assert_bad_input(run("demo", "-o", out, "-q"), "exists")


def test_sampler_controls_follow_the_video_controls():
    from cmtlite.controls import VideoControls
    from cmtlite.music.grammar import FREE
    from cmtlite.soundtrack import MusicOptions, sampler_controls

    doc = {
        "tempo_bpm": 120.0, "duration_s": 4.0, "grid_start_s": 0.0, "n_bars": 2, "scene_cuts_s": [2.1],
        "bars": [{"start_s": 0.0, "density": 3}, {"start_s": 2.0, "density": 15}],
        "beats": [{"time_s": 0.5 * k, "strength_level": level} for k, level in enumerate([2, 0, 0, 0, 0, 0, 0, 16])],
    }
    controls = VideoControls.from_json(doc)
    strongest = controls.calibration.strongest_level()
    plain = sampler_controls(controls, MusicOptions())
    assert plain.bar_density.tolist() == [3, 15]
    assert plain.beat_strength.tolist() == [2, FREE, FREE, FREE, strongest, FREE, FREE, 16]  # the cut at 2.1 s lands on beat 4
    shifted = sampler_controls(controls, MusicOptions(density_shift=4, strength_shift=-3, instruments=("bass",)))
    assert shifted.bar_density.tolist() == [7, 16]  # clipped to the codec's 16
    assert shifted.beat_strength.tolist() == [1, FREE, FREE, FREE, max(strongest - 3, 1), FREE, FREE, 13]
    assert shifted.instruments == ("bass",)


@pytest.mark.parametrize(
    ("options", "word"),
    [({"density_shift": 17}, "density shift"), ({"temperature": 0.0}, "temperature"), ({"instruments": ("kazoo",)}, "kazoo")],
)
def test_music_options_check_themselves(options, word):
    from cmtlite.errors import ConfigError
    from cmtlite.soundtrack import MusicOptions

    with pytest.raises(ConfigError, match=word):
        MusicOptions(**options)


def test_one_pipeline_times_its_stages_and_opens_the_video_twice(bounce_clip, model, tmp_path, monkeypatch):
    import av

    from cmtlite.soundtrack import MusicOptions, Outputs, make_soundtrack

    opened = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    stages = {}
    outputs = Outputs(video=tmp_path / "out.mp4", midi=tmp_path / "out.mid", controls=tmp_path / "controls.json")
    result = make_soundtrack(bounce_clip, outputs, model=model, soundfont=SMALL_SOUNDFONT, music=MusicOptions(seed=5),
                             on_stage=lambda name, seconds: stages.update({name: seconds}))
    assert set(stages) == {"analyze", "generate", "render", "mux"} and all(s >= 0 for s in stages.values())
    assert opened.count(str(bounce_clip)) == 2  # analysis (metadata + frames) and the mux (video packets + own audio)
    assert set(result.written) == {tmp_path / "out.mp4", tmp_path / "out.mid", tmp_path / "controls.json"}
    assert json.loads((tmp_path / "controls.json").read_text()) == result.controls.to_json()
    again = tmp_path / "again.mid"
    make_soundtrack(tmp_path / "controls.json", Outputs(midi=again), model=model, soundfont=None, music=MusicOptions(seed=5))
    assert again.read_bytes() == (tmp_path / "out.mid").read_bytes()  # the written controls give the same music


@pytest.mark.slow
def test_the_wheel_carries_the_model(tmp_path, wheel_venv):
    """`pip install .` (not editable) into a fresh venv: `cmtlite sample` finds the shipped model inside the wheel."""
    import subprocess

    python, site, root = wheel_venv
    probe = subprocess.run([python, "-c", "import cmtlite.constants as c; print(c.MODEL_PATH)"],  # noqa: S603
                           check=True, capture_output=True, text=True, cwd=tmp_path)
    assert str(site) in probe.stdout and str(root) not in probe.stdout
    out = tmp_path / "s.mid"
    script = "from cmtlite.cli import main; main()"
    result = subprocess.run([python, "-c", script, "sample", "-o", str(out), "--bars", "2", "-q"],  # noqa: S603
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:4] == b"MThd"
    result = subprocess.run([python, "-c", script, "score", str(out), "--bars", "0"],  # noqa: S603 - every package installed
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and "bar 0" in result.stdout, result.stderr


def test_the_midi_grid_is_the_music_grid_and_the_music_lands_on_the_picture(generated):
    import pretty_midi

    from cmtlite.controls import read_controls
    from cmtlite.evaluate import control_metrics, read_notes

    files, doc = generated
    controls = VideoControls.from_json(doc)
    timing = controls.timing()
    midi = pretty_midi.PrettyMIDI(str(files["midi"]))
    music_beats = timing.beat_times_s()
    music_beats = music_beats[(music_beats > 1e-3) & (music_beats < controls.duration_s - 1e-3)]
    file_beats = midi.get_beats()
    for beat in music_beats:  # a DAW reads the music's beats and bar lines from the file's own tempo map
        assert np.abs(file_beats - beat).min() <= 0.002, beat
    bar_lines = timing.bar_starts_s[(timing.bar_starts_s > 1e-3) & (timing.bar_starts_s < controls.duration_s - 1e-3)]
    for line in bar_lines:
        assert np.abs(midi.get_downbeats() - line).min() <= 0.002, line
    cut_markers, now = [], 0.0
    for message in mido.MidiFile(str(files["midi"])):
        now += message.time
        if message.type == "marker" and message.text == "cut":
            cut_markers.append(now)
    assert cut_markers == pytest.approx(list(controls.scene_cuts_s), abs=0.002) and len(cut_markers) == 2
    metrics = control_metrics(read_notes(files["midi"]), read_controls(files["controls"]))
    assert metrics["hit_rate_35ms"] == 1.0 and metrics["cut_on_beat_rate"] == 1.0


def test_every_strong_visual_beat_gets_an_onset_on_time(model):
    from cmtlite.constants import HIT_MIN_STRENGTH
    from cmtlite.soundtrack import MusicOptions, compose

    times = [0.31, 1.17, 2.05, 3.62, 5.5]  # off the grid: only microtiming lands them
    doc = {
        "tempo_bpm": 100.0, "duration_s": 8.0, "grid_start_s": -0.4, "n_bars": 4, "scene_cuts_s": [5.5],
        "bars": [{"start_s": 0.0, "density": 2} for _ in range(4)],
        "beats": [{"time_s": 0.0, "strength_level": 0} for _ in range(16)],
        "visual_beats": [{"time_s": t, "strength": 0.6 if t != 5.5 else 1.0} for t in times] + [{"time_s": 4.4, "strength": 0.3}],
    }
    controls = VideoControls.from_json(doc)
    track = compose(model, controls, MusicOptions(seed=1, instruments=("drums", "piano")))
    onsets = np.array([start for _, _, start, _ in track.notes_s()])
    for t in times:
        assert np.abs(onsets - t).min() <= 0.002, t
    assert HIT_MIN_STRENGTH > 0.3
    crash = [start for family, pitch, start, _ in track.notes_s() if family == "drums" and pitch == 49]
    assert np.abs(np.array(crash) - 5.5).min() <= 0.002  # the cut gets a crash
