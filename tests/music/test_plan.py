"""The plan: mood -> key, shots -> sections, progressions -> chords; and how videos and controls files get one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cmtlite.analysis import analyze_video
from cmtlite.controls import ChordChange, Mood, Section, VideoControls
from cmtlite.errors import ConfigError
from cmtlite.music.plan import (
    echo_ticks,
    label_cycles,
    make_plan,
    marker_ticks,
    mood_key,
    phrase_bars,
    picture_mood,
    plan_chords,
    random_key,
    sample_plan,
    scale_of,
    section_labels,
    shot_sections,
    with_plan,
)
from cmtlite.tokens.chords import Key, chord_label, chord_pitch_classes, parse_chord
from cmtlite.video.clips import Scene, write_clip
from tests.conftest import SMALL, minimal_controls


def _layout(y: float, u: float, v: float, n: int = 10) -> np.ndarray:
    return np.broadcast_to(np.array([y, u, v], np.uint8), (n, 4, 8, 3))


def test_dark_grey_still_is_minor_and_bright_colourful_lively_is_major():
    dark = picture_mood(_layout(40, 128, 128), np.zeros(10))
    bright = picture_mood(_layout(200, 60, 200), np.full(10, 0.5))
    assert dark.valence < 0.4 < bright.valence and dark.arousal == 0 and bright.arousal == 1
    assert mood_key(dark).mode == "min" and mood_key(bright).mode == "maj"


def test_shots_that_return_get_their_label_back():
    looks = np.array([[20.0] * 6, [200.0] * 6, [26.0] * 6, [120.0] * 6, [195.0] * 6])
    sections = shot_sections(np.array([8, 16, 24, 25]), looks, 32)
    assert [(s.start_bar, s.label) for s in sections] == [(0, "A"), (8, "B"), (16, "A"), (24, "B")]  # the 1-bar shot joins B


def test_sections_are_phrases_and_a_cut_inside_one_is_no_section():
    looks = np.array([[0.0] * 6, [100.0] * 6, [200.0] * 6, [0.0] * 6])
    sections = shot_sections(np.array([6, 7, 19]), looks, 30)  # a 1-bar shot at bar 6, long shots from 7 and 19
    starts = [s.start_bar for s in sections]
    assert starts[0] == 0 and all(b - a in (4, 8) for a, b in zip(starts, starts[1:], strict=False))
    assert 6 not in starts and 8 in starts and 20 in starts  # long shots start at the nearest phrase boundary
    assert sections[-1].start_bar < 30 - 1


def test_a_long_shot_alternates_a_theme_and_its_answer():
    sections = shot_sections(np.zeros(0, int), np.zeros((1, 6)), 32)
    assert [(s.start_bar, s.label) for s in sections] == [(0, "A"), (8, "B"), (16, "A"), (24, "B")]


def test_section_labels_go_past_z():
    assert section_labels(28)[-3:] == ["Z", "AA", "AB"]


def test_a_returning_section_repeats_its_chords_and_the_piece_ends_on_a_cadence():
    sections = (Section(start_bar=0, label="A"), Section(start_bar=8, label="B"), Section(start_bar=16, label="A"))
    chords = plan_chords(Key.parse("D:maj"), sections, 26, seed=3)
    first = [c for c in chords if c.bar < 8]
    third = [c for c in chords if 16 <= c.bar < 24]
    assert [(c.bar + 16, c.beat, c.label) for c in first] == [(c.bar, c.beat, c.label) for c in third]
    assert [c.label for c in chords if c.bar >= 24] == ["A:7", "D:maj"]  # V7 - I
    assert chords == plan_chords(Key.parse("D:maj"), sections, 26, seed=3)
    assert any(plan_chords(Key.parse("D:maj"), sections, 26, seed=s) != chords for s in range(1, 6))


def test_minor_plans_end_on_the_minor_tonic_and_stay_in_the_key():
    chords = plan_chords(Key.parse("A:min"), (Section(start_bar=0, label="A"),), 12, seed=0)
    assert chords[-1].label == "A:min" and chords[-2].label == "E:7"
    scale = scale_of(Key.parse("A:min"))
    roots = [chord_pitch_classes(parse_chord(c.label))[0] for c in chords]
    assert np.mean([scale[r] for r in roots]) >= 0.8


def test_sample_plan_is_a_b_a_b_and_keys_are_seeded():
    plan = sample_plan(32, key=None, seed=5)
    assert [(s.start_bar, s.label) for s in plan.sections] == [(0, "A"), (8, "B"), (16, "A"), (24, "B")]
    assert plan.key == random_key(5) and sample_plan(8, key=Key.parse("F#m"), seed=0).key.label == "F#:min"
    assert len({random_key(s) for s in range(20)}) > 3


def test_short_sections_cycle_a_phrase_and_echo_it():
    assert [phrase_bars(n) for n in (1, 2, 3, 4, 7, 8, 30)] == [1, 2, 2, 4, 4, 8, 8]
    sections = (Section(start_bar=0, label="A"), Section(start_bar=3, label="B"), Section(start_bar=13, label="A"))
    assert label_cycles(sections, 16) == {"A": 2, "B": 8}
    planned = plan_chords(Key.parse("C:maj"), sections, 16, seed=1)
    chords = VideoControls.from_json(minimal_controls(16, chords=[c.to_json() for c in planned]))
    per_bar = chords.chord_per_tick()[::16]
    assert per_bar[2] == per_bar[0] == per_bar[13]  # A cycles 2 bars; its return repeats it (bars 14-15: the cadence)
    echo = echo_ticks(sections, 16)
    bar_of = lambda tick: -1 if echo[tick * 16] < 0 else echo[tick * 16] // 16  # noqa: E731
    assert [bar_of(b) for b in range(16)] == [-1, -1, 0, -1, -1, -1, -1, 3, 4, 5, 6, 7, 8, 0, 1, 2]
    assert echo[13 * 16 + 5] == 5


def test_marker_ticks():
    plan = make_plan(Key.parse("C:maj"), (), 4, seed=0)
    texts = marker_ticks(plan.sections, plan.chords)
    assert texts[0] == (0, "section A") and all(t.startswith("chord ") for _, t in texts[1:])
    assert texts[-1] == (48, "chord C:maj")


def test_scale_of_minor_has_the_leading_tone():
    assert np.flatnonzero(scale_of(Key.parse("A:min"))).tolist() == [0, 2, 4, 5, 7, 8, 9, 11]
    assert np.flatnonzero(scale_of(Key.parse("G:maj"))).tolist() == [0, 2, 4, 6, 7, 9, 11]


def _controls(**extra) -> VideoControls:
    return VideoControls.from_json(minimal_controls(4, **extra))


def test_with_plan_keeps_a_files_chords_unless_another_key_is_asked():
    edited = _controls(key="E:min", chords=[{"bar": 0, "label": "G:maj"}])
    assert with_plan(edited, None, seed=0) is edited
    assert with_plan(edited, Key.parse("Em"), seed=0) is edited
    moved = with_plan(edited, Key.parse("C"), seed=0)
    assert moved.key.label == "C:maj" and moved.chords != edited.chords and moved.chords[-1].label == "C:maj"
    bare = _controls()
    assert with_plan(bare, None, seed=0).key.label == "C:maj" and with_plan(bare, None, seed=0).chords
    moody = dataclasses.replace(bare, mood=Mood(valence=0.1, arousal=0.0))
    assert with_plan(moody, None, seed=0).key.label == "D:min"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"key": "H:maj"}, "key"),
        ({"key": 3}, "key"),
        ({"chords": [{"bar": 0, "label": "C:major"}]}, "chords[0].label"),
        ({"chords": [{"bar": 1, "label": "C:maj"}, {"bar": 0, "label": "D:min"}]}, "increasing"),
        ({"chords": [{"bar": 9, "label": "C:maj"}]}, "inside"),
        ({"chords": [{"bar": 0, "beat": 4, "label": "C:maj"}]}, "chords[0].beat"),
        ({"sections": [{"start_bar": 2, "label": "A"}, {"start_bar": 1, "label": "B"}]}, "sections"),
        ({"mood": {"valence": 2, "arousal": 0}}, "mood.valence"),
    ],
)
def test_bad_plans_are_named(extra, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        _controls(**extra)


def test_chord_per_tick_follows_hand_edits():
    controls = _controls(chords=[{"bar": 0, "label": "C:maj"}, {"bar": 1, "beat": 2, "label": "N"}, {"bar": 2, "label": "Bb:7"}])
    per_tick = controls.chord_per_tick()
    assert [chord_label(per_tick[t]) for t in (0, 23, 24, 31, 32, 63)] == ["C:maj", "C:maj", "N", "N", "Bb:7", "Bb:7"]
    assert controls.to_json()["chords"][1] == {"bar": 1, "beat": 2, "label": "N"}


def test_key_is_normalized_in_the_file():
    assert _controls(key="Am").to_json()["key"] == "A:min"
    assert isinstance(ChordChange(bar=0, label="C:maj"), ChordChange)


def test_video_with_returning_shots_gets_sections_a_b_a_b(tmp_path):
    a = dict(background=(110, 40, 30), ball=(60, 200, 250))
    b = dict(background=(40, 170, 230), ball=(200, 60, 60))
    scenes = [Scene(duration_s=9.6, bounce_s=0.6, travel=0.4, **a), Scene(duration_s=9.6, bounce_s=0.6, travel=0.5, **b),
              Scene(duration_s=9.6, bounce_s=0.6, travel=0.5, **a), Scene(duration_s=9.6, bounce_s=0.6, travel=0.35, **b)]
    controls = analyze_video(write_clip(tmp_path / "abab.mp4", scenes, size=SMALL))
    assert [s.label for s in controls.sections] == ["A", "B", "A", "B"]
    starts = [s.start_bar * 16 for s in controls.sections] + [controls.n_bars * 16]
    chords = controls.chord_per_tick()
    length = min(starts[1] - starts[0], starts[3] - starts[2])
    np.testing.assert_array_equal(chords[starts[2] : starts[2] + length], chords[starts[0] : starts[0] + length])


def test_video_mood_picks_the_mode(tmp_path):
    dark = [Scene(duration_s=5.0, bounce_s=1.2, travel=0.1, background=(35, 35, 35), ball=(60, 60, 60))]
    bright = [Scene(duration_s=5.0, bounce_s=0.4, travel=0.8, background=(30, 200, 250), ball=(250, 40, 200))]
    dark_controls = analyze_video(write_clip(tmp_path / "dark.mp4", dark, size=SMALL))
    bright_controls = analyze_video(write_clip(tmp_path / "bright.mp4", bright, size=SMALL))
    assert dark_controls.key.mode == "min" and bright_controls.key.mode == "maj"
    assert dark_controls.mood.arousal < bright_controls.mood.arousal
    assert analyze_video(write_clip(tmp_path / "dark2.mp4", dark, size=SMALL), key=Key.parse("F#")).key.label == "F#:maj"
