"""The only module that calls DaVinci Resolve's scripting API (README.txt of Resolve's
Developer/Scripting folder). Every call here is one documented call; the tests run `logic.run`
through this class against a recording fake of exactly these calls.
"""

from __future__ import annotations


class ResolveHost:
    """The current project's current timeline, as `logic.Host` needs it."""

    def __init__(self, resolve: object) -> None:
        self.resolve = resolve
        manager = resolve.GetProjectManager()
        self.project = manager.GetCurrentProject() if manager else None
        self.timeline = self.project.GetCurrentTimeline() if self.project else None

    def timeline_name(self) -> str | None:
        return self.timeline.GetName() if self.timeline else None

    def frame_rate(self) -> float:
        # "timelineFrameRate" reads "24", "23.976", "29.97 DF" ...; the project's when the timeline has none.
        text = self.timeline.GetSetting("timelineFrameRate") or self.project.GetSetting("timelineFrameRate")
        return float(str(text).split()[0])

    def export_fcp7(self, path: str) -> bool:
        return bool(self.timeline.Export(path, self.resolve.EXPORT_FCP_7_XML, self.resolve.EXPORT_NONE))

    def markers(self) -> dict[float, dict]:
        return dict(self.timeline.GetMarkers() or {})

    def delete_marker(self, frame: float) -> bool:
        return bool(self.timeline.DeleteMarkerAtFrame(frame))

    def add_marker(self, frame: int, color: str, name: str, note: str, duration: int) -> bool:
        # the Resolve-free logic stays importable without the host's modules
        from .logic import MARKER_DATA

        return bool(self.timeline.AddMarker(frame, color, name, note, duration, MARKER_DATA))

    def import_timeline(self, path: str, name: str) -> bool:
        pool = self.project.GetMediaPool()
        return pool.ImportTimelineFromFile(path, {"timelineName": name}) is not None


def ask_with_dialog(resolve: object, bmd: object, summary: str) -> bool:
    """A small UIManager window: the summary, Import (the suggested timeline) and Close."""
    fusion = resolve.Fusion()
    ui = fusion.UIManager
    dispatcher = bmd.UIDispatcher(ui)
    buttons = [ui.Button({"ID": "Import", "Text": "Import suggested timeline"}),
               ui.Button({"ID": "Close", "Text": "Close"})]
    window = dispatcher.AddWindow(
        {"ID": "MttWindow", "WindowTitle": "mttd suggestions", "Geometry": [300, 300, 520, 140]},
        ui.VGroup([ui.Label({"Text": summary, "WordWrap": True}), ui.HGroup(buttons)]),
    )
    choice = {"import": False}

    def close(_event: object, wants_import: bool = False) -> None:
        choice["import"] = wants_import
        dispatcher.ExitLoop()

    window.On.MttWindow.Close = close
    window.On.Close.Clicked = close
    window.On.Import.Clicked = lambda event: close(event, True)
    window.Show()
    dispatcher.RunLoop()
    window.Hide()
    return choice["import"]
