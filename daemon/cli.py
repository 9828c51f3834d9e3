"""The `mttd` command. Each subcommand lives in its own module under `daemon/commands/`.

Command modules import nothing heavy at module level (no torch, no grpc): `mttd start` must
spawn the daemon before grpc or torch are imported, and `mttd features` never needs torch.
A module exposes `register(subparsers)`, which adds its parser(s) with `set_defaults(run=...)`;
`run(args)` returns the exit code. A command that fails raises a domain error (daemon.errors, or
a timeline the reader cannot read): `main` prints it once, as `mttd: FILE: reason`, and exits
with its code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from daemon.errors import MttdError
from daemon.paths import keep_matplotlib_in_our_cache
from model import __version__
from model.inference.model_files import ModelLoadError
from model.timeline.errors import TimelineParseError

# Order is the order of `mttd --help`.
COMMAND_MODULES = (
    "features",
    "suggest",
    "lifecycle",
    "watch",
    "config",
    "synth",
    "dataset",
    "train",
    "fit_gate",
    "evaluate",
    "viz",
    "export",
    "bench",
    "service",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mttd", description="Multi-Track Transformer edit suggestions.")
    parser.add_argument("--version", action="version", version=f"mttd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module_name = f"daemon.commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    keep_matplotlib_in_our_cache()  # before anything imports matplotlib (viz, the watcher's pictures)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()
        return code
    except MttdError as err:
        return report(err.message, err.exit_code)
    except TimelineParseError as err:
        return report(f"cannot read {err.one_line()}")
    except ModelLoadError as err:
        return report(f"cannot load the model: {err}")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone()


def report(message: str, code: int = 1) -> int:
    """Print one line to stderr, `mttd: message`, and return the exit code."""
    sys.stdout.flush()  # what the command printed before it failed comes first
    print(f"mttd: {message}", file=sys.stderr)
    return code


def _reader_gone() -> int:
    """The reader of our output went away (`mttd features X | head`): stop quietly, like a
    process killed by SIGPIPE. stdout is pointed at devnull so the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # stdout is no file (an embedding caller): nothing will flush it at exit
    return 128 + 13  # 141: what a shell reports for SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
