"""`mttd config show [--json]`: the effective settings, where each came from, and the paths.

The `debug_*` settings (fault injection for tests) are shown only when something sets them."""

from __future__ import annotations

import argparse
import json

from daemon import paths as paths_mod
from daemon.config import load


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show the daemon's settings")
    actions = p.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="effective settings and where each came from (default, file, environment)")
    show.add_argument("--json", action="store_true", help="print a JSON document")
    show.set_defaults(run=run_show)


def run_show(args: argparse.Namespace) -> int:
    paths = paths_mod.resolve()
    config = load(paths)
    settings = [s for s in config.describe() if not (s["name"].startswith("debug_") and s["source"] == "default")]
    if args.json:
        doc = {
            "settings": {s["name"]: {"value": s["value"], "source": s["source"]} for s in settings},
            "paths": paths.as_dict(),
        }
        print(json.dumps(doc, indent=2))
        return 0
    width = max(len(s["name"]) for s in settings)
    for s in settings:
        print(f"{s['name']:<{width}} = {json.dumps(s['value']):<10} ({s['source']})")
    print()
    for name, value in paths.as_dict().items():
        print(f"{name:<{width}}   {value}")
    return 0
