"""Operators, the sequencer sidebar panel, settings and the suggest-on-save handler.

No `from __future__ import annotations` here: Blender reads property definitions from the class
annotations, which must stay evaluated objects, not strings.
"""

import json

import bpy
from bpy.app.handlers import persistent

from . import convert, scene_io
from .bridge_client import BridgeError, suggest_timeline  # the build's copy of plugin_bridge/bridge_client.py
from .bridge_client import status as daemon_status

MAX_LISTED = 40  # suggestions listed in the panel; the stored document holds them all
_lines_cache: dict[int, list[tuple[str, str]]] = {}


class NoStrips(ValueError):
    pass


def bridge_setting(context: bpy.types.Context) -> str:
    addon = context.preferences.addons.get(__package__)
    return addon.preferences.bridge_path if addon else ""


def set_message(context: bpy.types.Context, text: str) -> None:
    context.window_manager.mtt_state.last_message = text


def suggest_scene(context: bpy.types.Context, start_daemon: bool = True) -> dict:
    """Ask the daemon about the scene's strips; store the document; put review markers in place."""
    scene = context.scene
    timeline = scene_io.read_timeline(scene)
    if convert.count_items(timeline) == 0:
        raise NoStrips("The scene has no video strips on channels 1-20: add strips, then click Suggest")
    document = suggest_timeline(timeline, name=scene.name, start_daemon=start_daemon,
                                bridge=bridge_setting(context))
    markers = convert.review_markers(document, scene_io.scene_values(scene).fps, scene.frame_start)
    scene[scene_io.SUGGESTIONS_KEY] = json.dumps(document)
    scene_io.replace_markers(scene, markers)
    context.window_manager.mtt_state.daemon_state = "running"
    return convert.counts(document)


def summary(totals: dict[str, int]) -> str:
    return f"mtt: {totals['review']} to review (markers), {totals['next']} next, {totals['fill']} fill"


class MTT_OT_suggest(bpy.types.Operator):
    """Send the sequencer's strips to mttd and mark the suggestions on the timeline"""

    bl_idname = "mtt.suggest"
    bl_label = "Suggest"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            totals = suggest_scene(context)
        except NoStrips as err:
            return self.fail(context, str(err))
        except BridgeError as err:
            context.window_manager.mtt_state.daemon_state = "unavailable"
            return self.fail(context, f"mttd could not answer: {err}")
        except convert.DocumentError as err:
            return self.fail(context, str(err))
        message = summary(totals)
        set_message(context, message)
        self.report({"INFO"}, message)
        return {"FINISHED"}

    def fail(self, context: bpy.types.Context, message: str) -> set[str]:
        set_message(context, message)
        self.report({"ERROR"}, message)
        return {"CANCELLED"}


class MTT_OT_apply_next(bpy.types.Operator):
    """Add the suggested next and fill segments as strips on free channels, to keep or delete"""

    bl_idname = "mtt.apply_next"
    bl_label = "Apply"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        document = scene_io.stored_document(scene)
        if document is None:
            return self.fail(context, "No suggestions yet: click Suggest first")
        try:
            values = scene_io.scene_values(scene)
            places = convert.placements(
                document, values.fps, scene.frame_start, scene_io.used_channels(scene),
                scene_io.sizes_by_path(scene_io.read_strips(scene), values), (values.width, values.height),
            )
        except convert.DocumentError as err:
            return self.fail(context, str(err))
        if not places:
            return self.fail(context, "The suggestions hold no next or fill segments to add", level="WARNING")
        stand_ins = [p.source_name for p in places if scene_io.add_strip(scene, p)[1]]
        channels = [p.channel for p in places]
        message = f"mtt: added {len(places)} strips on channels {min(channels)}-{max(channels)}"
        if stand_ins:
            message += f"; colour stand-ins where the source file is missing: {', '.join(sorted(set(stand_ins)))}"
        set_message(context, message)
        self.report({"WARNING" if stand_ins else "INFO"}, message)
        return {"FINISHED"}

    def fail(self, context: bpy.types.Context, message: str, level: str = "ERROR") -> set[str]:
        set_message(context, message)
        self.report({level}, message)
        return {"CANCELLED"}


class MTT_OT_refresh_status(bpy.types.Operator):
    """Ask mtt-bridge whether the daemon runs (never starts it)"""

    bl_idname = "mtt.refresh_status"
    bl_label = "Refresh daemon state"

    def execute(self, context: bpy.types.Context) -> set[str]:
        state = context.window_manager.mtt_state
        try:
            status = daemon_status(bridge=bridge_setting(context))
        except BridgeError as err:
            state.daemon_state = f"unavailable: {err}"
            return {"FINISHED"}
        state.daemon_state = describe_status(status)
        return {"FINISHED"}


def describe_status(status: dict) -> str:
    if not status.get("running"):
        return "not running (Suggest starts it)"
    model = status.get("model") or {}
    name = model.get("name", "") if isinstance(model, dict) else str(model)
    return f"running, pid {status.get('pid', '?')}" + (f", model {name}" if name else "")


class MttState(bpy.types.PropertyGroup):
    daemon_state: bpy.props.StringProperty(name="Daemon", default="unknown (click refresh)")
    last_message: bpy.props.StringProperty(name="Last message", default="")


class MttSceneSettings(bpy.types.PropertyGroup):
    suggest_on_save: bpy.props.BoolProperty(
        name="Suggest on save",
        description="After each save, ask a running daemon for suggestions (never starts it, so saving stays quick)",
        default=False,
    )


class MttPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    bridge_path: bpy.props.StringProperty(
        name="mtt-bridge", subtype="FILE_PATH", default="",
        description="The mtt-bridge executable; empty = $MTT_BRIDGE, PATH, then ~/.local/bin",
    )

    def draw(self, context: bpy.types.Context) -> None:
        self.layout.prop(self, "bridge_path")


def suggestion_lines(scene: bpy.types.Scene) -> list[tuple[str, str]]:
    text = scene.get(scene_io.SUGGESTIONS_KEY, "")
    key = hash(text)
    if key not in _lines_cache:
        _lines_cache.clear()  # one scene's document at a time is enough for drawing
        try:
            _lines_cache[key] = convert.suggestion_lines(json.loads(text)) if text else []
        except (ValueError, KeyError, TypeError):
            _lines_cache[key] = [("The stored suggestions cannot be read: click Suggest again", "")]
    return _lines_cache[key]


class SEQUENCER_PT_mtt(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "mtt"
    bl_label = "Edit suggestions"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        state = context.window_manager.mtt_state
        row = layout.row(align=True)
        row.operator(MTT_OT_suggest.bl_idname, icon="MARKER_HLT")
        row.operator(MTT_OT_apply_next.bl_idname, icon="SEQ_STRIP_DUPLICATE")
        row = layout.row()
        row.label(text=f"Daemon: {state.daemon_state}")
        row.operator(MTT_OT_refresh_status.bl_idname, text="", icon="FILE_REFRESH")
        layout.prop(context.scene.mtt, "suggest_on_save")
        if state.last_message:
            layout.label(text=state.last_message)
        lines = suggestion_lines(context.scene)
        box = layout.box()
        box.label(text=f"{len(lines)} suggestions" if lines else "No suggestions yet")
        for head, reason in lines[:MAX_LISTED]:
            column = box.column(align=True)
            column.label(text=head)
            if reason:
                column.label(text=f"    {reason}")
        if len(lines) > MAX_LISTED:
            box.label(text=f"... and {len(lines) - MAX_LISTED} more")


@persistent
def suggest_after_save(*_args: object) -> None:
    """save_post: refresh the suggestions when the scene asks for it and the daemon is running."""
    context = bpy.context
    scene = context.scene
    if scene is None or not scene.mtt.suggest_on_save:
        return
    try:
        set_message(context, summary(suggest_scene(context, start_daemon=False)) + " (after save)")
    except (NoStrips, BridgeError, convert.DocumentError) as err:
        set_message(context, f"Suggest on save: {err}")


CLASSES = (MttState, MttSceneSettings, MttPreferences, MTT_OT_suggest, MTT_OT_apply_next, MTT_OT_refresh_status,
           SEQUENCER_PT_mtt)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.WindowManager.mtt_state = bpy.props.PointerProperty(type=MttState)
    bpy.types.Scene.mtt = bpy.props.PointerProperty(type=MttSceneSettings)
    bpy.app.handlers.save_post.append(suggest_after_save)


def unregister() -> None:
    # Blender 4.5 hangs at exit while a handler or class of an add-on stays registered.
    while suggest_after_save in bpy.app.handlers.save_post:
        bpy.app.handlers.save_post.remove(suggest_after_save)
    del bpy.types.Scene.mtt
    del bpy.types.WindowManager.mtt_state
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    _lines_cache.clear()
