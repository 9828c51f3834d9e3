"""`python -m installer install|uninstall ...`: what install.sh, install.ps1, uninstall.sh and
uninstall.ps1 run (with the checkout on PYTHONPATH). Standard library only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from installer.install import InstallError, Options, install
from installer.manifest import ManifestError
from installer.uninstall import uninstall


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="install.sh", description="Per-user install of mttd (no administrator rights).")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("install", help="install mttd, or upgrade it in place")
    p.add_argument("--from", dest="source", type=Path, metavar="PATH|WHEEL",
                   help="a checkout of mttd or a mttd-*.whl (default: this checkout)")
    p.add_argument("--no-service", action="store_true", help="do not start mttd at login")
    p.add_argument("--no-plugins", action="store_true", help="do not put the editor plugins in place")
    p.add_argument("--dry-run", action="store_true", help="print every file and folder it would create; create nothing")
    p.add_argument("--no-modify-path", action="store_true",
                   help="leave the shell startup files (Windows: the user Path) alone; print how to put mttd on PATH")
    p.add_argument("--with-training", action="store_true",
                   help="also install torch (CPU) and the ONNX exporter: mttd train, mttd export, --backend torch")
    p.add_argument("--torch-index", default="", metavar="URL",
                   help="with --with-training: the package index for torch (default: a wheel on this machine, "
                        "else the PyTorch CPU index on Linux, PyPI elsewhere)")
    p = sub.add_parser("uninstall", help="remove what the installer created")
    p.add_argument("--purge", action="store_true", help="also remove the config, data, state and logs")
    p.add_argument("--dry-run", action="store_true", help="print what it would remove; remove nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.action == "install":
            opts = Options(args.source, not args.no_service, not args.no_plugins, args.dry_run, args.torch_index,
                           with_training=args.with_training, modify_path=not args.no_modify_path)
            return install(opts)
        return uninstall(purge=args.purge, dry_run=args.dry_run)
    except (InstallError, ManifestError) as err:
        print(f"mttd install: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
