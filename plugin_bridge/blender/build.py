"""Build the installable Blender add-on zip: `python plugin_bridge/blender/build.py [OUT_DIR]`.

The zip holds the `mtt_blender/` package only (standard library plus bpy), with its copy of the one
`plugin_bridge/bridge_client.py`: the add-on talks to mttd through the `mtt-bridge` command, so
nothing compiled (grpcio) has to match Blender's Python.
Install it with Edit > Preferences > Add-ons > Install from Disk, or `bpy.ops.preferences.addon_install`.
"""

from __future__ import annotations

import ast
import sys
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent / "mtt_blender"
BRIDGE_CLIENT = PACKAGE.parents[1] / "bridge_client.py"  # the one source, copied in at build time


def addon_version() -> str:
    """bl_info["version"] read without importing the add-on (it needs bpy to register)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "bl_info" for t in node.targets):
            info = ast.literal_eval(node.value)
            return ".".join(str(part) for part in info["version"])
    raise ValueError(f"no bl_info in {PACKAGE / '__init__.py'}")


def package_files() -> list[tuple[Path, str]]:
    """(file, its name in the zip), in a fixed order: the package and the bridge client's copy."""
    files = [(p, f"mtt_blender/{p.relative_to(PACKAGE).as_posix()}") for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files + [(BRIDGE_CLIENT, "mtt_blender/bridge_client.py")], key=lambda item: item[1])


def build_zip(out_dir: Path) -> Path:
    """Write mtt_blender-VERSION.zip into out_dir (files in a fixed order with fixed times)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"mtt_blender-{addon_version()}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, name in package_files():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else Path.cwd() / "dist"
    print(build_zip(out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
