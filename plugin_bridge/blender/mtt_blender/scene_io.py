"""The bpy side: copy strip values out of the scene, put markers and strips back in.

Everything that decides *what* to write lives in `convert.py`; this module only moves values
between bpy and those plain dataclasses.
"""

from __future__ import annotations

import json
import os

import bpy

from . import convert

SUGGESTIONS_KEY = "mtt_suggestions"  # scene[...]: the last suggestions document, as JSON text
MARKERS_KEY = "mtt_markers"  # scene[...]: [[name, frame], ...] of the markers the last run added
ADDED_KEY = "mtt_added"  # strip[...]: set on strips that apply_next added ("next" or "fill")
SOURCE_IN_KEY = "mtt_source_in"  # strip[...]: the suggestion's source in-point (frames)
SOURCE_OUT_KEY = "mtt_source_out"  # strip[...]: its out-point (exclusive), when the document gives one
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".webp", ".tga", ".dpx", ".hdr")
STAND_IN_COLOR = (0.9, 0.35, 0.1)  # a colour that reads as "placeholder" among real footage


def scene_values(scene: bpy.types.Scene) -> convert.SceneValues:
    render = scene.render
    return convert.SceneValues(
        name=scene.name,
        fps=convert.fps_fraction(render.fps, render.fps_base),
        width=render.resolution_x,
        height=render.resolution_y,
        frame_start=scene.frame_start,
    )


def _media_path(strip: bpy.types.Strip) -> str:
    if strip.type == "MOVIE":
        raw = strip.filepath
    elif strip.type == "IMAGE" and len(strip.elements):
        raw = os.path.join(strip.directory, strip.elements[0].filename)
    elif strip.type == "MOVIECLIP" and strip.clip:
        raw = strip.clip.filepath
    else:
        return ""
    return os.path.normpath(bpy.path.abspath(raw)) if raw else ""


def _source_size(strip: bpy.types.Strip) -> tuple[int, int] | None:
    elements = getattr(strip, "elements", None)
    if elements is not None and len(elements):
        return elements[0].orig_width, elements[0].orig_height
    return None


def _nested_name(strip: bpy.types.Strip) -> str:
    if strip.type == "SCENE" and strip.scene:
        return strip.scene.name
    return ""


def strip_values(strip: bpy.types.Strip) -> convert.StripValues:
    transform = getattr(strip, "transform", None)
    crop = getattr(strip, "crop", None)
    elements = getattr(strip, "elements", None)
    return convert.StripValues(
        name=strip.name,
        type=strip.type,
        channel=strip.channel,
        start=strip.frame_final_start,
        end=strip.frame_final_end,
        offset_start=int(strip.frame_offset_start),
        muted=strip.mute,
        input_count=getattr(strip, "input_count", 0),
        path=_media_path(strip),
        frames=len(elements) if elements is not None else 1,
        source_size=_source_size(strip),
        nested_name=_nested_name(strip),
        scale_x=transform.scale_x if transform else 1.0,
        offset_x=transform.offset_x if transform else 0.0,
        offset_y=transform.offset_y if transform else 0.0,
        crop=(crop.min_x, crop.max_x, crop.min_y, crop.max_y) if crop else (0, 0, 0, 0),
    )


def muted_channels(scene: bpy.types.Scene) -> dict[int, bool]:
    editor = scene.sequence_editor
    if editor is None:
        return {}
    return {index: channel.mute for index, channel in enumerate(editor.channels) if 1 <= index <= convert.N_TRACKS}


def read_strips(scene: bpy.types.Scene) -> list[convert.StripValues]:
    """Top-level strips (a meta strip is one nested source, like an xmeml nested sequence)."""
    editor = scene.sequence_editor
    if editor is None:
        return []
    return [strip_values(strip) for strip in editor.strips]


def read_timeline(scene: bpy.types.Scene) -> dict:
    return convert.timeline_json(scene_values(scene), read_strips(scene), muted_channels(scene))


def stored_document(scene: bpy.types.Scene) -> dict | None:
    text = scene.get(SUGGESTIONS_KEY)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def replace_markers(scene: bpy.types.Scene, wanted: list[tuple[str, int]]) -> None:
    """Remove the markers the previous run added (same name, same frame), then add `wanted`."""
    previous = {tuple(pair) for pair in json.loads(scene.get(MARKERS_KEY, "[]"))}
    for marker in list(scene.timeline_markers):
        if (marker.name, marker.frame) in previous:
            scene.timeline_markers.remove(marker)
    for name, frame in wanted:
        scene.timeline_markers.new(name, frame=frame)
    scene[MARKERS_KEY] = json.dumps([[name, frame] for name, frame in wanted])


def used_channels(scene: bpy.types.Scene) -> set[int]:
    editor = scene.sequence_editor
    return {strip.channel for strip in editor.strips} if editor else set()


def sizes_by_path(strips: list[convert.StripValues], scene: convert.SceneValues) -> dict[str, tuple[int, int]]:
    return {s.path: convert.source_size(s, scene) for s in strips if s.path}


def _new_media_strip(strips, place: convert.Placement) -> bpy.types.Strip | None:
    """A movie or image strip from the suggested source's file, or None when Blender cannot load it."""
    if not place.path or not os.path.isfile(place.path):
        return None
    try:
        if place.path.lower().endswith(IMAGE_EXTENSIONS):  # a still: every frame is the same picture
            strip = strips.new_image(place.name, place.path, place.channel, place.frame_start)
            strip.frame_final_duration = place.frame_end - place.frame_start
        else:
            strip = strips.new_movie(place.name, place.path, place.channel, place.frame_start - place.source_in)
            _trim_to(strip, place)
    except RuntimeError:
        return None
    return strip


def _trim_to(strip: bpy.types.Strip, place: convert.Placement) -> None:
    """Show the source from its in-point at the placement's start, and no further than its
    out-point (placements() ended the segment there) or the media's end. The strip was added with
    its content starting source_in frames early; media shorter than the document thought shows
    its last frame instead of starting early."""
    source_in = min(place.source_in, max(0, strip.frame_duration - 1))
    if source_in != place.source_in:
        strip.frame_start = place.frame_start - source_in
    content_end = round(strip.frame_start) + strip.frame_duration  # frame_start is a float property
    strip.frame_final_start = place.frame_start
    strip.frame_final_end = max(place.frame_start + 1, min(place.frame_end, content_end))


def _new_generated_strip(scene: bpy.types.Scene, strips, place: convert.Placement) -> bpy.types.Strip | None:
    """A generator of the suggested type, or a scene strip of the suggested (other) scene."""
    if place.generated:
        strip = strips.new_effect(place.name, place.generated, place.channel, place.frame_start,
                                  frame_end=place.frame_end)
        if place.generated == "COLOR":  # continue the colour of the track's own colour strip (channel = track)
            before = [c for c in strips if c.type == "COLOR" and c.channel == place.track and c != strip
                      and c.frame_final_start < place.frame_start]
            if before:
                strip.color = max(before, key=lambda c: c.frame_final_start).color
        return strip
    nested = bpy.data.scenes.get(place.source_name) if not place.path else None
    if nested is None or nested == scene:
        return None
    strip = strips.new_scene(place.name, nested, place.channel, place.frame_start - place.source_in)
    _trim_to(strip, place)
    return strip


def add_strip(scene: bpy.types.Scene, place: convert.Placement) -> tuple[bpy.types.Strip, bool]:
    """Add one suggested segment; returns the strip and whether it is a colour stand-in (no media)."""
    strips = scene.sequence_editor_create().strips
    strip = _new_media_strip(strips, place) or _new_generated_strip(scene, strips, place)
    stand_in = strip is None
    if stand_in:
        strip = strips.new_effect(place.name, "COLOR", place.channel, place.frame_start, frame_end=place.frame_end)
        strip.color = STAND_IN_COLOR
    size = _source_size(strip)
    transform = convert.values_to_transform(place.values, *(size if size and min(size) > 0 else place.source_size))
    strip.transform.scale_x = strip.transform.scale_y = transform.scale
    strip.transform.offset_x, strip.transform.offset_y = transform.offset_x, transform.offset_y
    strip.crop.min_x, strip.crop.max_x, strip.crop.min_y, strip.crop.max_y = transform.crop
    strip[ADDED_KEY] = place.kind
    strip[SOURCE_IN_KEY] = place.source_in  # also on stand-ins: where to start the media once found
    if place.source_out is not None:
        strip[SOURCE_OUT_KEY] = place.source_out
    return strip, stand_in
