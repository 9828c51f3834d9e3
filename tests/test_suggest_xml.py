"""The suggested timeline NAME.mtt.xml reads back through the project's reader (the original gives
the same features as the input) and through OpenTimelineIO's FCP7 adapter."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from lxml import etree

from model.features.grid import featurize
from model.inference.predictor import PersistencePredictor
from model.suggest.document import run_file, run_timeline
from model.suggest.items import SuggestOptions
from model.suggest.programme import Programme
from model.suggest.suggested_xml import SUFFIX
from model.timeline.safe_xml import parse_xml_bytes
from model.timeline.xmeml import read_xmeml, read_xmeml_bytes, top_level_sequences
from tests.helpers_suggest import FlickerPredictor, as_timeline, interview, with_item

CORPUS_FILES = ("ccnmtl__xmeml/final_cut_pro.xml", "OpenTimelineIO__otio-fcp-adapter/premiere_example.xml",
                "havardgulldahl__xmeml/BroShow ep Fordommer.xml", "nick-animation-studio__fcp7xml-to-unreal/test_XML_export_resolve.xml")


def same_features(a, b) -> None:
    fa, fb = featurize(a), featurize(b)
    assert fa.grid.shape == fb.grid.shape
    np.testing.assert_allclose(fa.grid, fb.grid, atol=1e-4)
    assert [s.key for s in fa.sources] == [s.key for s in fb.sources]


@pytest.fixture()
def slipped_with_gap():
    """An interview with a disabled clip (review), an empty stretch (fill) and an end (next)."""
    return with_item(interview(60, gap=(20, 26)), 0, 9, enabled=False)


def test_the_original_reads_back_to_the_same_features_and_the_suggestions_are_added(tmp_path, slipped_with_gap):
    seq = slipped_with_gap
    run = run_timeline("interview.xml", b"", as_timeline(seq), FlickerPredictor(), SuggestOptions())
    result = run.results[0]
    assert result.review and result.next and result.fill
    path = tmp_path / "interview.mtt.xml"
    path.write_bytes(run.xml_bytes())
    back = read_xmeml(path)
    original, suggested = back.sequences
    assert (original.name, suggested.name) == ("Interview", "Interview" + SUFFIX)
    same_features(seq, original)
    added = [it for tr in suggested.video_tracks for it in tr.items if it.name.startswith("mtt ")]
    clips = result.next + result.fill
    assert sorted((it.start, it.end, it.source.key) for it in added) == sorted(
        (c.start_frame, c.end_frame, c.source.key) for c in clips
    )
    for it in added:  # motion and crop as Basic Motion and Crop, on the timeline's own media
        clip = next(c for c in clips if (c.start_frame, c.source.key) == (it.start, it.source.key))
        assert (it.motion.scale.value if it.motion else 100.0) == pytest.approx(clip.values[0], abs=1e-3)
        assert it.source.path == clip.source.path
    # The original edit is all there underneath.
    for t, track in enumerate(seq.video_tracks):
        kept = [it for it in suggested.video_tracks[t].items if not it.name.startswith("mtt ")]
        assert [(it.start, it.end, it.enabled, it.source.key) for it in kept] == [
            (it.start, it.end, it.enabled, it.source.key) for it in track.items
        ]
    assert [(m.frame, m.end) for m in suggested.markers] == [(r.start_frame, r.end_frame) for r in result.review]
    assert all(m.name.startswith("mtt review: V") and "confidence" in m.comment for m in suggested.markers)


def test_opentimelineio_reads_both_sequences_with_clips_and_markers(tmp_path, slipped_with_gap):
    run = run_timeline("interview.xml", b"", as_timeline(slipped_with_gap), FlickerPredictor(), SuggestOptions())
    path = tmp_path / "interview.mtt.xml"
    path.write_bytes(run.xml_bytes())
    read = otio.adapters.read_from_file(str(path), adapter_name="fcp_xml")
    timelines = {t.name: t for t in read}
    assert set(timelines) == {"Interview", "Interview" + SUFFIX}
    original = [len(list(tr.find_clips())) for tr in timelines["Interview"].video_tracks()]
    suggested = [len(list(tr.find_clips())) for tr in timelines["Interview" + SUFFIX].video_tracks()]
    result = run.results[0]
    assert sum(suggested) == sum(original) + len(result.next) + len(result.fill)
    names = [m.name for m in timelines["Interview" + SUFFIX].tracks.markers]
    assert len(names) == len(result.review) and all(n.startswith("mtt review") for n in names)


def test_a_next_inside_the_edit_goes_on_a_free_track_and_covers_nothing(tmp_path):
    seq = interview(40)
    options = SuggestOptions(kinds=("next",), after_s=10.0, horizon_s=4.0)
    run = run_timeline("i.xml", b"", as_timeline(seq), PersistencePredictor(), options)
    back = read_xmeml_bytes(run.xml_bytes(), "i.mtt.xml")
    same_features(seq, back.sequences[0])
    for track in back.sequences[1].video_tracks:
        items = sorted(track.items, key=lambda it: it.start)
        assert all(a.end <= b.start for a, b in zip(items, items[1:]))
    assert len(back.sequences[1].video_tracks) > len(seq.video_tracks)


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_files_round_trip(corpus_dir, tmp_path, name):
    src = tmp_path / Path(name).name
    shutil.copy(corpus_dir / name, src)
    run = run_file(src, PersistencePredictor(), SuggestOptions(kinds=("next", "fill")))
    assert run.ok
    out = tmp_path / "out.mtt.xml"
    out.write_bytes(run.xml_bytes())
    back = read_xmeml(out)
    original = read_xmeml(src)
    assert len(back.sequences) == 2 * len(original.sequences)
    for i, seq in enumerate(original.sequences):
        assert back.sequences[2 * i].name == seq.name
        assert back.sequences[2 * i + 1].name == seq.name + SUFFIX
        same_features(seq, back.sequences[2 * i])
    otio.adapters.read_from_file(str(out), adapter_name="fcp_xml")


FAITHFUL_FILES = ("havardgulldahl__xmeml/BroShow ep Brocodes.xml", "OpenTimelineIO__otio-fcp-adapter/premiere_generators.xml",
                  "havardgulldahl__xmeml/Kraakeklubben%20Pgm%205%20v3.xml")


@pytest.mark.parametrize("name", FAITHFUL_FILES)
def test_the_original_sequence_is_kept_element_for_element(corpus_dir, name):
    """Audio tracks, clip types (Premiere's Slug and GraphicAndType clipitems stay clipitems),
    generators and every filter: the original sequence in the .mtt.xml is the input's, and the
    suggestions copy keeps them too, with no id defined twice and no out point past the media."""
    data = (corpus_dir / name).read_bytes()
    run = run_file(corpus_dir / name, FlickerPredictor(), SuggestOptions())
    assert run.ok
    out = run.xml_bytes()
    before = top_level_sequences(parse_xml_bytes(data, name))
    root = parse_xml_bytes(out, "out.mtt.xml")
    after = top_level_sequences(root)
    assert len(after) == 2 * len(before)
    assert etree.tostring(after[0]) == etree.tostring(before[0])
    copy = after[1]
    def own_items(seq):  # (media, track, tag, name, start, filters) of the sequence's own items, not nested ones
        return [(media, t, it.tag, it.findtext("name"), it.findtext("start"), len(it.findall("filter")))
                for media in ("video", "audio") for t, tr in enumerate(seq.findall(f"media/{media}/track"))
                for it in tr if it.tag in ("clipitem", "generatoritem", "transitionitem")
                and not (it.findtext("name") or "").startswith("mtt ")]

    assert own_items(copy) == own_items(before[0])
    assert len(before[0].findall("media/audio/track")) > 0 or "generators" in name

    def definitions(tree):  # full <file>/<sequence> definitions by id (but the copy itself): the copy adds none
        return sorted(el.get("id") for el in tree.iter("file", "sequence") if el.get("id") and len(el) and el is not copy)

    assert definitions(root) == definitions(parse_xml_bytes(data, name))
    original_ids = {el.get("id") for el in before[0].iter("clipitem", "generatoritem")}
    assert not {el.get("id") for el in copy.iter("clipitem", "generatoritem")} & original_ids
    result = run.results[0]
    media = Programme.of(result.sequence)
    added = [el for el in copy.iter("clipitem", "generatoritem") if (el.findtext("name") or "").startswith("mtt ")]
    assert len(added) == len(result.next) + len(result.fill)
    for clip in result.next + result.fill:
        limit = media.media_length(clip.source)
        assert limit is None or clip.in_frame + clip.end_frame - clip.start_frame <= limit
    for el in added:
        assert int(el.findtext("out")) <= int(el.findtext("duration"))
    back = read_xmeml_bytes(out, "out.mtt.xml")
    same_features(result.sequence, back.sequences[0])
