"""Shared pieces of the watcher tests and benchmark: synthetic xmeml, saves the way NLEs do them,
a recording stub processor, waiting, and the folder checksum."""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from daemon.watch import files as watch_files
from daemon.watch.watcher import ProcessResult
from model.timeline.kinds import SIDECAR_SUFFIXES

FPS = 25


def synthetic_xmeml(seed: int, seconds: float = 20.0, tracks: int = 2, name: str = "") -> str:
    """A small but real xmeml sequence: cuts every 1-4 s on each track, Basic Motion scale on some."""
    rng = random.Random(seed)
    total = int(seconds * FPS)
    files: list[str] = []
    track_xml = []
    for t in range(tracks):
        items, start = [], 0
        while start < total:
            end = min(total, start + rng.randint(FPS, 4 * FPS))
            src = rng.randint(0, 5)
            if src not in (int(f) for f in files):
                files.append(str(src))
                file_xml = (f'<file id="file-{src}"><name>clip{src}.mov</name>'
                            f"<pathurl>file:///media/clip{src}.mov</pathurl>"
                            f"<rate><timebase>{FPS}</timebase><ntsc>FALSE</ntsc></rate>"
                            f"<duration>{total * 4}</duration></file>")
            else:
                file_xml = f'<file id="file-{src}"/>'
            scale = rng.choice([100, 100, 120, 150])
            items.append(
                f'<clipitem id="item-{t}-{start}"><name>clip{src}</name><enabled>TRUE</enabled>'
                f"<start>{start}</start><end>{end}</end><in>{start}</in><out>{end}</out>{file_xml}"
                "<filter><effect><name>Basic Motion</name><effectid>basic</effectid>"
                "<parameter><parameterid>scale</parameterid><name>Scale</name>"
                f"<value>{scale}</value></parameter></effect></filter></clipitem>"
            )
            start = end + (rng.randint(0, FPS) if rng.random() < 0.2 else 0)
        track_xml.append("<track>" + "".join(items) + "<enabled>TRUE</enabled></track>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n<xmeml version="4">\n'
        f'<sequence id="seq-{seed}"><name>{name or f"cut {seed}"}</name><duration>{total}</duration>'
        f"<rate><timebase>{FPS}</timebase><ntsc>FALSE</ntsc></rate>"
        "<media><video><format><samplecharacteristics><width>1920</width><height>1080</height>"
        "</samplecharacteristics></format>" + "".join(track_xml) + "</video></media></sequence>\n</xmeml>\n"
    )


def save_atomically(path: Path, text: str, temp_name: str | None = None) -> None:
    """Save the way most exporters do: write a temp file beside the target, then rename over it."""
    tmp = path.with_name(temp_name or f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_slowly(path: Path, text: str, chunks: int = 10, seconds: float = 2.0) -> None:
    """Write in place in `chunks` pieces spread over `seconds` (an exporter that streams)."""
    data = text.encode()
    step = -(-len(data) // chunks)
    with open(path, "wb") as f:
        for i in range(chunks):
            f.write(data[i * step:(i + 1) * step])
            f.flush()
            os.fsync(f.fileno())
            time.sleep(seconds / chunks)


class StubProcessor:
    """Writes a minimal NAME.mtt.json (source path, sha256, size) and NAME.mtt.xml, atomically,
    and records every call: the watcher's contract with `process` without the model."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[Path] = []
        self.delay_s = delay_s
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> ProcessResult:
        data = path.read_bytes()
        with self._lock:
            self.calls.append(path)
        if self.delay_s:
            time.sleep(self.delay_s)
        doc = {"schema": "mtt.suggestions/1",
               "source": {"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}}
        ok = data.rstrip().endswith(b"</xmeml>") and b"<!ENTITY" not in data
        if not ok:
            doc["error"] = {"code": "parse", "message": f"{path.name}: not a complete xmeml document", "line": 0}
        _write(watch_files.sidecar_json_path(path), json.dumps(doc).encode())
        if ok:
            _write(watch_files.sidecar_xml_path(path), data)
        return ProcessResult(ok, "" if ok else doc["error"]["message"])


def _write(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def wait_idle(watcher, quiet_s: float = 0.3, timeout: float = 30.0) -> bool:
    """True once the watcher's queue has been empty for `quiet_s`."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        if watcher.queue_depth == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= quiet_s:
                return True
        else:
            quiet_since = None
        time.sleep(0.02)
    return False


def user_files_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under folder that is not an mttd sidecar."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(SIDECAR_SUFFIXES)
    }


def sidecars(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.name.endswith(SIDECAR_SUFFIXES))
