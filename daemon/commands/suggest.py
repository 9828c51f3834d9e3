"""`mttd suggest FILE...`: review, next and fill suggestions for timelines.

One file: human output by default; `--json` prints exactly the `NAME.mtt.json` document (the
error document for a file that cannot be read); `--out DIR` writes both sidecars there atomically.
Several files or folders (batch): the model is loaded once, one line per file (`--json`: one
document per line), sidecars into `--out DIR` (a folder's sub-folders mirrored there) or beside
each file with `--in-place`, unreadable files counted and passed over, a summary at the end and a
progress bar on stderr when it is a terminal.

A running daemon (of this version) answers when nothing is written to disk, so the model is not
loaded here; `--no-daemon` forces in-process work. Sidecars are always made here: the suggested
XML is built from the in-process results, which the daemon's reply does not carry. Output is the
same either way: a file the daemon cannot read is done again here, for the same error.
Exit codes: 0 done, 1 a file could not be read (or the named sequence does not exist), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from daemon import paths as paths_mod
from daemon.client import try_daemon_suggest
from daemon.commands.suggest_batch import run_batch
from daemon.commands.suggest_shared import Model, error_line
from daemon.config import load
from daemon.errors import MttdError
from model.timeline.errors import TimelineParseError
from model.timeline.kinds import sidecar_stem

KIND_NAMES = ("review", "next", "fill")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("suggest", help="suggest review, next and fill edits for timeline files")
    p.add_argument("paths", nargs="+", metavar="FILE", help="timeline files (FCP7 XML, or another format the reader takes), or folders of them")
    p.add_argument("--json", action="store_true", help="print the NAME.mtt.json document (several files: one per line)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="DIR", help="write NAME.mtt.json and NAME.mtt.xml into DIR")
    where.add_argument("--in-place", action="store_true", help="write NAME.mtt.json and NAME.mtt.xml beside each file")
    p.add_argument("-r", "--recursive", action="store_true", help="look into the sub-folders of folders")
    p.add_argument("--no-daemon", action="store_true", help="work in this process even when the daemon runs")
    p.add_argument("--model", metavar="M",
                   help="a .safetensors file, a training run folder, or `persistence` (default: the `model` setting, else the bundled model)")
    p.add_argument("--backend", choices=("auto", "torch", "onnx", "onnx-int8"), default="auto",
                   help="how the network runs in this process (default auto: the fastest export that passed its check)")
    p.add_argument("--kinds", type=_kinds, default=KIND_NAMES, metavar="K[,K]", help="any of review,next,fill (default: all)")
    p.add_argument("--horizon", type=_positive, default=10.0, metavar="S", help="seconds `next` continues the edit (default 10)")
    p.add_argument("--after", type=_non_negative, metavar="S", help="start `next` here instead of at the end of the sequence")
    p.add_argument("--sequence", metavar="NAME", help="only this sequence (default: all)")
    p.add_argument("--max-review", type=int, default=20, metavar="N", help="review items per sequence (default 20)")
    p.set_defaults(run=run)


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in KIND_NAMES]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"kinds are review, next and fill (got {text!r})")
    return kinds


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive (got {text})")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (got {text})")
    return value


def options_from_args(args: argparse.Namespace):
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.suggest.items import SuggestOptions

    return SuggestOptions(
        kinds=tuple(args.kinds),
        horizon_s=args.horizon,
        after_s=args.after,
        sequence=args.sequence,
        max_review=max(0, args.max_review),
    )


def run(args: argparse.Namespace) -> int:
    model = Model(args.model, args.model or _configured_model(), args.backend)
    options = options_from_args(args)
    if len(args.paths) == 1 and not Path(args.paths[0]).is_dir():
        return run_single(args, options, model)
    return run_batch(args, options, model)


def _configured_model() -> str | None:
    """The daemon's `model` setting (config file or MTTD_MODEL), so both ways give one answer."""
    return load(paths_mod.resolve()).model or None


def run_single(args: argparse.Namespace, options, model: Model) -> int:
    path = args.paths[0]
    out_dir = args.out if not args.in_place else str(Path(path).parent)
    if out_dir is None and not args.no_daemon:
        doc = _from_daemon(path, options, model.requested)
        if doc is not None:
            print_document(doc, args.json)
            return 0
    return suggest_one(path, model, options, out_dir=out_dir, as_json=args.json)


def _from_daemon(path: str, options, model: str | None) -> dict | None:
    """The daemon's document, or None: no daemon, or a file it cannot read (redone here)."""
    try:
        return try_daemon_suggest(path, options, model)
    except TimelineParseError:
        return None


def print_document(doc: dict, as_json: bool) -> None:
    if as_json:
        json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(human_report(doc))


class ProgressLine:
    """`mttd suggest FILE` on a terminal: `mttd: FILE: STAGE N% (S s)` on one stderr line,
    redrawn every half second from the first half second on (a short file is done before it
    shows) and cleared at the end. The stages come from model.inference.progress."""

    DELAY_S = 0.5

    def __init__(self, name: str, stream) -> None:
        import threading
        import time

        self.name, self.stream, self.clock = name, stream, time.monotonic
        self.started = self.clock()
        self.state = ("read", 0.0)
        self.shown = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._tick, name="mttd-progress", daemon=True)

    def __call__(self, stage: str, fraction: float) -> None:
        self.state = (stage, fraction)

    def __enter__(self) -> ProgressLine:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def _tick(self) -> None:
        while not self.stop.wait(self.DELAY_S):
            stage, fraction = self.state
            self.stream.write(f"\r\033[Kmttd: {self.name}: {stage} {fraction:.0%} ({self.clock() - self.started:.0f} s)")
            self.stream.flush()
            self.shown = True


def suggest_one(path: str, model: Model, options, *, out_dir: str | None, as_json: bool) -> int:
    """Suggest for one file in this process, print it, and write the sidecars when asked. The file
    is read first: one that cannot be read fails without loading the model (1+ s). On a terminal
    a long file shows its progress (ProgressLine)."""
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.suggest.document import write_sidecars

    if sys.stderr.isatty():
        from model.inference import progress  # with the model: nothing of it loads for `--help`

        line = ProgressLine(path, sys.stderr)
        with line, progress.reporting(line):
            result = _run_one(path, model, options, line)
    else:
        result = _run_one(path, model, options, None)
    doc = result.document
    if out_dir is not None:
        try:
            written = write_sidecars(doc, result.xml_bytes(), out_dir, sidecar_stem(path))
        except OSError as err:
            raise MttdError(f"cannot write sidecars into {out_dir}: {err.strerror or err}") from None
    if as_json or result.ok:
        print_document(doc, as_json)
    if result.ok and out_dir is not None and not as_json:
        print("wrote " + ", ".join(str(p) for p in written))
    if not result.ok:
        if as_json:
            return 1  # the error document printed above says why
        raise MttdError(error_line(doc))
    return 0


def _run_one(path: str, model: Model, options, line: ProgressLine | None):
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.suggest.document import read_source, run_source

    source = read_source(path)
    if line is not None and source.ok:
        line("loading the model", 0.0)
    return run_source(source, model.get() if source.ok else model.identity(), options)


def human_report(doc: dict) -> str:
    lines = [f"{doc['source']['path']}  (model {doc['model']['name']} {doc['model']['version']}, {doc['elapsed_ms']['total']:.0f} ms)"]
    for seq in doc["sequences"]:
        seconds = seq["steps"] * seq["step_seconds"]
        lines.append(f"sequence {seq['name']!r}: {seconds:.1f} s")
        lines += _section("review", seq["review"], _review_line)
        if seq.get("finished") and not seq["next"]:
            lines.append(f"  next: none, {seq['finished']['reason']}")
        else:
            lines += _section("next", seq["next"], _clip_line)
        lines += _section("fill", seq["fill"], _clip_line)
    return "\n".join(lines)


def _section(title: str, items: list[dict], describe) -> list[str]:
    if not items:
        return [f"  {title}: none"]
    return [f"  {title} ({len(items)}):"] + [f"    {describe(item)}" for item in items]


def _span(item: dict) -> str:
    return f"V{item['track']} {item['start_tc']}-{item['end_tc']}"


def _review_line(item: dict) -> str:
    change = f"{_value(item['current'])} -> {_value(item['suggested'])}"
    return f"{_span(item)}  {item['field']} {change}  ({item['confidence']:.2f})  {item['reason']}"


def _clip_line(item: dict) -> str:
    src = item["source"]["name"] or f"slot {item['source']['slot']}"
    crop = ",".join(f"{item[k]:g}" for k in ("crop_l", "crop_r", "crop_t", "crop_b"))
    return (
        f"{_span(item)}  {src!r}  scale {item['scale']:g}  pos ({item['pos_x']:g}, {item['pos_y']:g})"
        f"  crop ({crop})  ({item['confidence']:.2f})"
    )


def _value(value) -> str:
    if isinstance(value, dict):
        return repr(value["name"]) if value["name"] else f"slot {value['slot']}"
    return "?" if value is None else f"{value:g}"
