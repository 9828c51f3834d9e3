"""Runs inside a real (headless) Blender for tests/test_plugin_blender.py.

    python blender_scenario.py SPEC_JSON_FILE OUT_JSON_FILE

SPEC holds "scenario" ("read", "operators" or "install"), "media_dir", "addon_root" (the folder
holding mtt_blender/) and per-scenario fields. The result goes to OUT as JSON. Every scenario
unregisters what it registered: Blender 4.5 hangs at exit while an add-on stays registered.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import bpy

FPS = 25
# The known strips: (channel, file or generated type, first frame, frame after the last).
PATTERN = [
    *((1, "a.png" if i % 2 == 0 else "b.png", 1 + 25 * i, 26 + 25 * i) for i in range(8)),
    (2, "COLOR", 1, 201),
    (3, "TEXT", 26, 76),
    (4, "COLOR", 1, 101),
]


def make_image(path: Path, width: int, height: int, rgba: tuple[float, float, float, float]) -> None:
    image = bpy.data.images.new(path.stem, width, height)
    image.pixels.foreach_set(list(rgba) * (width * height))
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)


def make_movie(path: Path, frames: int) -> None:
    """A tiny real movie (64x36, `frames` frames at FPS) rendered by Blender's own FFmpeg, from a
    scene of its own so the test scene is untouched."""
    scene = bpy.data.scenes.new("movie maker")
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 36, 100
    scene.frame_start, scene.frame_end = 1, frames
    scene.sequence_editor_create().strips.new_effect("grey", "COLOR", 1, 1, frame_end=frames + 1)
    scene.render.image_settings.file_format = "FFMPEG"
    scene.render.ffmpeg.format, scene.render.ffmpeg.codec = "MPEG4", "H264"
    scene.render.filepath = str(path)
    bpy.ops.render.render(animation=True, scene=scene.name)
    bpy.data.scenes.remove(scene)


def build_scene(media_dir: Path) -> bpy.types.Scene:
    """V1 alternates a.png/b.png every second; its third a.png is scaled, moved and cropped (the
    known values) and the b.png after it is muted (a slip review finds); V2 a small colour
    picture-in-picture; V3 a muted text; channel 4 muted. a.png is 640x360, b.png 320x240."""
    media_dir.mkdir(parents=True, exist_ok=True)
    make_image(media_dir / "a.png", 640, 360, (0.1, 0.3, 0.8, 1.0))
    make_image(media_dir / "b.png", 320, 240, (0.8, 0.7, 0.1, 1.0))
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.render.resolution_x, scene.render.resolution_y = 1920, 1080
    scene.frame_start, scene.frame_end = 1, 200
    strips = scene.sequence_editor_create().strips
    for index, (channel, what, start, end) in enumerate(PATTERN):
        name = f"{what.lower()}{index}"
        if what.endswith(".png"):
            strip = strips.new_image(name, str(media_dir / what), channel, start)
            strip.frame_final_duration = end - start
        else:
            strip = strips.new_effect(name, what, channel, start, frame_end=end)
    first = strips["a.png4"]
    first.transform.scale_x = first.transform.scale_y = 1.5
    first.transform.offset_x, first.transform.offset_y = 160.0, -90.0
    first.crop.min_x, first.crop.max_x, first.crop.min_y, first.crop.max_y = 64, 32, 36, 18
    pip = strips["color8"]
    pip.transform.scale_x = pip.transform.scale_y = 0.25
    pip.transform.offset_x, pip.transform.offset_y = 480.0, 270.0
    pip.color = (0.2, 0.75, 0.3)
    strips["b.png5"].mute = True
    strips["text9"].mute = True
    scene.sequence_editor.channels[4].mute = True
    scene.timeline_markers.new("cut here", frame=10)  # the editor's own marker: never touched
    return scene


def added_strips(scene: bpy.types.Scene) -> list[dict]:
    out = []
    for strip in scene.sequence_editor.strips:
        if "mtt_added" not in strip:
            continue
        t, c = strip.transform, strip.crop
        path = str(Path(strip.directory) / strip.elements[0].filename) if strip.type == "IMAGE" else ""
        out.append({
            "name": strip.name, "type": strip.type, "kind": strip["mtt_added"], "channel": strip.channel,
            "start": strip.frame_final_start, "end": strip.frame_final_end,
            # the source frame shown at the strip's first frame
            "source_frame": int(strip.frame_final_start - strip.frame_start),
            "marked_in": strip.get("mtt_source_in"), "marked_out": strip.get("mtt_source_out"),
            "path": bpy.path.abspath(strip.filepath) if strip.type == "MOVIE" else path,
            "scale": [t.scale_x, t.scale_y], "offset": [t.offset_x, t.offset_y],
            "color": list(strip.color) if strip.type == "COLOR" else None,
            "crop": [c.min_x, c.max_x, c.min_y, c.max_y],
        })
    return out


def run_operator(name: str) -> dict:
    operator = getattr(bpy.ops.mtt, name)
    try:
        return {"result": sorted(operator())}
    except RuntimeError as err:  # an ERROR report raises in background mode
        return {"error": str(err)}


def scenario_read(spec: dict) -> dict:
    sys.path.insert(0, spec["addon_root"])
    from mtt_blender import scene_io

    scene = build_scene(Path(spec["media_dir"]))
    return {"timeline": scene_io.read_timeline(scene)}


def scenario_operators(spec: dict) -> dict:
    sys.path.insert(0, spec["addon_root"])
    import mtt_blender

    mtt_blender.register()
    try:
        return run_actions(spec)
    finally:
        mtt_blender.unregister()


def run_actions(spec: dict) -> dict:
    scene = build_scene(Path(spec["media_dir"])) if spec.get("strips", True) else bpy.context.scene
    if spec.get("movie_frames"):
        make_movie(Path(spec["media_dir"]) / "clip.mp4", spec["movie_frames"])
    steps = []
    for action in spec["actions"]:
        if action == "save":
            scene.mtt.suggest_on_save = True
            bpy.ops.wm.save_as_mainfile(filepath=str(Path(spec["media_dir"]) / "edit.blend"))
            steps.append({"action": action, "message": bpy.context.window_manager.mtt_state.last_message})
            continue
        outcome = run_operator(action)
        outcome.update(action=action, message=bpy.context.window_manager.mtt_state.last_message,
                       markers=sorted([m.name, m.frame] for m in scene.timeline_markers))
        steps.append(outcome)
    bpy.ops.mtt.refresh_status()
    return {
        "steps": steps,
        "document": json.loads(scene.get("mtt_suggestions", "null")),
        "markers": sorted([m.name, m.frame] for m in scene.timeline_markers),
        "added": added_strips(scene) if scene.sequence_editor else [],
        "lines": [f"{head} | {reason}" for head, reason in sys.modules["mtt_blender.ui"].suggestion_lines(scene)],
        "daemon_state": bpy.context.window_manager.mtt_state.daemon_state,
        "panel_registered": hasattr(bpy.types, "SEQUENCER_PT_mtt"),
        "handlers": [h.__name__ for h in bpy.app.handlers.save_post],
    }


def scenario_install(spec: dict) -> dict:
    import addon_utils

    bpy.ops.preferences.addon_install(filepath=spec["zip"], overwrite=True)
    installed = [m.__name__ for m in addon_utils.modules(refresh=True)]
    addon_utils.enable("mtt_blender", default_set=True, handle_error=None)
    try:
        result = {
            "installed": "mtt_blender" in installed,
            "enabled": "mtt_blender" in bpy.context.preferences.addons,
            "operators": [hasattr(bpy.ops.mtt, name) for name in ("suggest", "apply_next", "refresh_status")],
            "panel_registered": hasattr(bpy.types, "SEQUENCER_PT_mtt"),
            "module_file": sys.modules["mtt_blender"].__file__,
        }
    finally:
        addon_utils.disable("mtt_blender", default_set=True)
    result["after_disable"] = {"panel_registered": hasattr(bpy.types, "SEQUENCER_PT_mtt"),
                               "handlers": len(bpy.app.handlers.save_post)}
    return result


SCENARIOS = {"read": scenario_read, "operators": scenario_operators, "install": scenario_install}


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        result = SCENARIOS[spec["scenario"]](spec)
    except Exception:  # the test prints it; the process must still exit cleanly
        result = {"crash": traceback.format_exc()}
    Path(sys.argv[2]).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
