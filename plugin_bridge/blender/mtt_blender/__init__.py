"""mttd edit suggestions for Blender's video sequencer.

The add-on sends the sequencer's strips (channels 1-20) to the local mttd daemon through the
`mtt-bridge` command, marks review suggestions on the timeline and can add the suggested next
and fill segments as strips. bpy is imported only by `register()`, so the pure conversions in
`convert.py` import (and are tested) without Blender. `bridge_client.py` is a copy of the one
plugin_bridge/bridge_client.py that build.py puts into the zip.
"""

bl_info = {
    "name": "mttd edit suggestions",
    "author": "mttd",
    "version": (0, 1, 0),
    "blender": (4, 4, 0),
    "location": "Video Sequencer > Sidebar > mtt",
    "description": "Suggestions from the mttd daemon: review markers, next and fill strips",
    "category": "Sequencer",
}


def register() -> None:
    # bpy exists only inside Blender: the conversions import and test without it
    from . import ui

    ui.register()


def unregister() -> None:
    # bpy exists only inside Blender: the conversions import and test without it
    from . import ui

    ui.unregister()
