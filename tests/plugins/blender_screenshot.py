"""Make plugin_bridge/blender/panel.png: the add-on at work in headless Blender.

    MTTD_HOME=$(mktemp -d) MTTD_MODEL=persistence python tests/plugins/blender_screenshot.py OUT.png
    mttd stop   # with the same MTTD_HOME

Blender draws its UI only into a window, and the bpy module has none (GPU drawing is refused in
background mode), so the picture is made of what can be produced headless: the sequencer's
rendered preview at a frame showing the applied strips, the channels with their strips and the
markers as the add-on left them, and the text the sidebar panel shows, all read from the scene.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

import bpy
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "plugin_bridge" / "blender"))
import build  # noqa: E402  the add-on as built: with its copy of plugin_bridge/bridge_client.py

ADDON = Path(tempfile.mkdtemp(prefix="mtt-addon-"))
zipfile.ZipFile(build.build_zip(ADDON / "dist")).extractall(ADDON)
sys.path.insert(0, str(ADDON))

import blender_scenario  # noqa: E402
import mtt_blender  # noqa: E402


def render_preview(scene: bpy.types.Scene, frame: int, path: Path) -> None:
    scene.frame_set(frame)
    scene.render.resolution_percentage = 25
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)


def panel_text(scene: bpy.types.Scene) -> list[str]:
    from mtt_blender import ui

    state = bpy.context.window_manager.mtt_state
    lines = ["[ Suggest ]  [ Apply ]", f"Daemon: {state.daemon_state}",
             f"[{'x' if scene.mtt.suggest_on_save else ' '}] Suggest on save", state.last_message]
    for head, reason in ui.suggestion_lines(scene)[:8]:
        lines += [head, f"    {reason}"]
    return lines


def draw(scene: bpy.types.Scene, preview: Path, out: Path) -> None:
    fig = plt.figure(figsize=(12, 6.4), dpi=100)
    grid = fig.add_gridspec(2, 2, width_ratios=[1.25, 1], height_ratios=[1, 1.1])
    ax = fig.add_subplot(grid[0, 0])
    ax.set_facecolor("black")  # the sequencer renders empty areas transparent
    ax.imshow(plt.imread(preview))
    ax.set_title(f"Sequencer preview, frame {scene.frame_current} (rendered headless)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    text = fig.add_subplot(grid[:, 1])
    text.axis("off")
    text.set_title("Sidebar > mtt: the panel's content", fontsize=9)
    text.text(0, 1, "\n".join(panel_text(scene)), va="top", family="monospace", fontsize=7.5, wrap=True)
    timeline = fig.add_subplot(grid[1, 0])
    for strip in scene.sequence_editor.strips:
        added = "mtt_added" in strip
        color = "#e8742c" if added else ("#777777" if strip.mute else "#4f7fbf")
        timeline.barh(strip.channel, strip.frame_final_duration, left=strip.frame_final_start, height=0.8,
                      color=color, edgecolor="black", linewidth=0.4)
        timeline.text(strip.frame_final_start + 2, strip.channel, strip.name, va="center", fontsize=6, color="white")
    for marker in scene.timeline_markers:
        timeline.axvline(marker.frame, color="#d4c21f" if marker.name.startswith("mtt: ") else "#aaaaaa", lw=1)
        timeline.text(marker.frame + 2, 6.75, marker.name, fontsize=6, va="bottom")
    timeline.set_ylim(0.4, 7.2)
    timeline.set_xlabel("frame")
    timeline.set_ylabel("channel")
    timeline.set_title("Channels and markers after Suggest and Apply (orange: added strips)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out)


def main() -> int:
    out = Path(sys.argv[1]).resolve()
    work = Path(tempfile.mkdtemp(prefix="mtt-shot-"))
    scene = blender_scenario.build_scene(work / "media")
    mtt_blender.register()
    try:
        bpy.ops.mtt.suggest()
        bpy.ops.mtt.apply_next()
        bpy.ops.mtt.refresh_status()
        render_preview(scene, 260, work / "preview.png")
        draw(scene, work / "preview.png", out)
    finally:
        mtt_blender.unregister()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
