"""The install manifest: every file and folder the installer created, which uninstall removes.

Only what did not exist before is recorded, so uninstall never removes a folder the user had
(`~/.local/bin`, Blender's add-on folder). Each entry says whether a plain uninstall keeps it
(`keep`: the config file, mttd's own folders and the parents made for them) or removes it; a
plain uninstall rewrites the manifest with the kept entries so a later `--purge` still knows them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from model.atomic import write_atomic

SCHEMA = "mttd.install-manifest/1"
# tree: a folder that is ours whole (the venv, a plugin); lines: our block in a shell startup file;
# user-path: the launcher folder in the Windows user's Path
KINDS = ("dir", "file", "link", "tree", "lines", "user-path")


class ManifestError(Exception):
    """An install manifest that cannot be read; the message names the file."""


@dataclass(frozen=True)
class Entry:
    path: str
    kind: str
    role: str  # venv, launcher, config, service, plugin, appdir, parent
    keep: bool = False  # kept by an uninstall without --purge

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown manifest entry kind {self.kind!r}")


@dataclass
class Manifest:
    path: Path
    version: str = ""
    source: str = ""
    backend: str = ""  # the service backend installed, "" for none
    entries: list[Entry] = field(default_factory=list)
    plugins: list[dict] = field(default_factory=list)  # {"editor", "version", "path"}

    def add(self, path: Path, kind: str, role: str, keep: bool = False) -> None:
        """Record `path` once; a later install recording it again keeps the first entry's place."""
        entry = Entry(str(path), kind, role, keep)
        if all(e.path != entry.path for e in self.entries):
            self.entries.append(entry)

    def add_created_dirs(self, dirs: list[Path], role: str = "parent", keep: bool = False) -> None:
        for d in dirs:
            self.add(d, "dir", role, keep)

    def has(self, path: Path) -> bool:
        return any(e.path == str(path) for e in self.entries)

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "version": self.version,
            "source": self.source,
            "backend": self.backend,
            "plugins": self.plugins,
            "entries": [asdict(e) for e in self.entries],
        }

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(self.to_json(), indent=2) + "\n", mode=0o600)


def load(path: Path) -> Manifest | None:
    """The manifest at `path`, or None when there is none."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise ManifestError(f"{path}: cannot read the install manifest ({err})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ManifestError(f"{path}: not an mttd install manifest (schema {doc.get('schema') if isinstance(doc, dict) else None!r})")
    try:
        entries = [Entry(**e) for e in doc.get("entries", [])]
    except (TypeError, ValueError) as err:
        raise ManifestError(f"{path}: bad entry ({err})") from None
    return Manifest(path, doc.get("version", ""), doc.get("source", ""), doc.get("backend", ""), entries, doc.get("plugins", []))


def missing_dirs(path: Path) -> list[Path]:
    """The folders `mkdir -p path` would create, outermost first."""
    missing = []
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            break
        missing.append(p)
    return list(reversed(missing))


def make_dirs(path: Path, mode: int = 0o777) -> list[Path]:
    """mkdir -p, returning the folders it created (outermost first)."""
    created = missing_dirs(path)
    for d in created:
        d.mkdir(mode=mode)
    return created
