"""THE table of timeline kinds: which suffixes are timelines, who reads them, how to recognise them.

The reader (`formats`), the watcher's candidate filter, the daemon's input check and the dataset
builder all ask this table, so a suffix is either a timeline everywhere or nowhere. The names of
mttd's own sidecars live here too: they are never inputs. Stdlib only: the watcher imports this
without pulling in the readers.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

# mttd's own outputs beside a timeline NAME.xml: NAME.mtt.json, NAME.mtt.xml, NAME.mtt.png.
JSON_SIDECAR = ".mtt.json"
XML_SIDECAR = ".mtt.xml"
PNG_SIDECAR = ".mtt.png"
SIDECAR_SUFFIXES = (JSON_SIDECAR, XML_SIDECAR, PNG_SIDECAR)


@dataclass(frozen=True)
class TimelineKind:
    suffix: str
    format: str  # the reader's name for it: xmeml natively, the others through OpenTimelineIO
    root_marker: bytes  # found in the first 4 KB of a file of this kind (the watcher's sniff)
    end_marker: bytes  # what a complete file ends with, whitespace aside
    needs_extra: bool  # read through OpenTimelineIO (a dependency of mttd; checked, as a venv may lack it)

    @property
    def first_byte(self) -> bytes:
        """What the content starts with, BOM and whitespace aside: OTIO is JSON, the rest XML."""
        return b"{" if self.format == "otio" else b"<"


KINDS = (
    TimelineKind(".xml", "xmeml", b"<xmeml", b"</xmeml>", needs_extra=False),
    TimelineKind(".fcpxml", "fcpxml", b"<fcpxml", b"</fcpxml>", needs_extra=True),
    TimelineKind(".kdenlive", "kdenlive", b"<mlt", b"</mlt>", needs_extra=True),
    TimelineKind(".mlt", "kdenlive", b"<mlt", b"</mlt>", needs_extra=True),
    TimelineKind(".otio", "otio", b'"OTIO_SCHEMA"', b"}", needs_extra=True),
)
BY_SUFFIX = {k.suffix: k for k in KINDS}
# An XML file's root element names its format whatever its suffix (an FCPXML saved as .xml).
ROOT_FORMATS = {"xmeml": "xmeml", "fcpxml": "fcpxml", "mlt": "kdenlive"}


def formats_extra_installed() -> bool:
    return importlib.util.find_spec("opentimelineio") is not None


def timeline_kinds(with_extras: bool | None = None) -> dict[str, TimelineKind]:
    """Suffix -> kind; those read through OpenTimelineIO only when it is installed."""
    extras = formats_extra_installed() if with_extras is None else with_extras
    return {k.suffix: k for k in KINDS if extras or not k.needs_extra}


def is_sidecar_name(name: str) -> bool:
    return name.lower().endswith(SIDECAR_SUFFIXES)


def kind_of(path: str | Path) -> TimelineKind | None:
    """The kind a file name says it holds; None for other suffixes and for mttd's own sidecars."""
    name = Path(path).name
    if is_sidecar_name(name):
        return None
    return BY_SUFFIX.get(Path(name).suffix.lower())


def sidecar_stem(path: str | Path) -> str:
    """`cut.v2.xml` -> `cut.v2`: the sidecars of NAME.xml are NAME.mtt.json, NAME.mtt.xml and NAME.mtt.png."""
    name = Path(path).name
    suffix = Path(name).suffix
    return name[: -len(suffix)] if suffix else name
