"""Build the Resolve script folder: `python plugin_bridge/resolve/build.py [OUT_DIR]`.

OUT_DIR gets `MTT Suggest.py` and `mtt_resolve/`, with its copy of the one
`plugin_bridge/bridge_client.py`; copy both into Resolve's `Fusion/Scripts/Edit` folder (the
installer does, see installer/plugins.py). Standard library only.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = "MTT Suggest.py"
LIBRARY = "mtt_resolve"
BRIDGE_CLIENT = HERE.parent / "bridge_client.py"  # the one source, copied in at build time


def build_folder(out_dir: Path) -> Path:
    """Write SCRIPT and LIBRARY/ into out_dir (replacing an older build there); return out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(HERE / SCRIPT, out_dir / SCRIPT)
    library = out_dir / LIBRARY
    if library.exists():
        shutil.rmtree(library)
    # Resolve loads mtt_resolve/ as a plain folder on its path: no __init__.py, no caches
    shutil.copytree(HERE / LIBRARY, library, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "__init__.py"))
    shutil.copy2(BRIDGE_CLIENT, library / "bridge_client.py")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(build_folder(Path(args[0]) if args else Path.cwd() / "dist" / "resolve"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
