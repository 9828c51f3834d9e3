"""`mttd viz FILE`: a PNG of the timeline with what the model thinks of it.

One lane per used video track on a timecode axis; clips coloured by source, with a mini frame
showing the visible part of scaled, moved or cropped clips; under each lane the model's guess for
every step (and where it disagrees); review suggestions boxed and listed with their reasons; next
and fill segments dashed after the end and in the gaps.

The picture goes to `--out PNG`, by default `NAME.mtt.png` in the current folder: never beside
the user's file unless they ask for it (`--out` with that path). A programme longer than five
minutes also gets pages (`--pages auto`, the default; `on` or `off` to choose): the whole
programme in rows of `--row-seconds` (60), as many rows as fit on a page, written as
NAME.mtt-p1.png, NAME.mtt-p2.png ... beside the picture. One sequence per picture: the
`--sequence` named, else the first with video. The model is `--model`, else the `model` setting,
else the bundled model; `--model persistence` draws the copy-previous-step baseline.
Exit codes: 0 written, 1 the file, sequence, model or output cannot be used.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon import paths as paths_mod
from daemon.config import load
from daemon.errors import MttdError
from model.timeline.kinds import PNG_SIDECAR, sidecar_stem


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "viz",
        help="draw a timeline and the model's view of it as a PNG",
        description="Draw a timeline as a PNG: tracks over timecode, clips by source, the model's "
        "guess per step against the edit, review suggestions with reasons, next and fill segments.",
    )
    p.add_argument("file", metavar="FILE", help="a timeline file (FCP7 XML, or another format the reader takes)")
    p.add_argument("--out", metavar="PNG", help="where to write the picture (default: NAME.mtt.png in the current folder)")
    p.add_argument("--sequence", metavar="NAME", help="the sequence to draw (default: the first with video)")
    p.add_argument("--pages", choices=("auto", "on", "off"), default="auto",
                   help="also draw the programme in pages of rows, as OUT-p1.png ... (auto: when longer than 5 minutes)")
    p.add_argument("--row-seconds", type=_positive_seconds, default=60.0, metavar="S",
                   help="the length of a page row in seconds (default 60: a 4-second shot shows its name)")
    p.add_argument("--model", metavar="M",
                   help="a .safetensors file, a training run folder, or `persistence` (default: the `model` setting, else the bundled model)")
    p.set_defaults(run=run)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 5.0 <= value <= 3600.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a row length from 5 to 3600 seconds")
    return value


def default_out(path: str) -> Path:

    return Path.cwd() / f"{sidecar_stem(path)}{PNG_SIDECAR}"


def run(args: argparse.Namespace) -> int:
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.timeline.formats import read_timeline
    from model.viz.render import pick_sequence

    out = Path(args.out) if args.out else default_out(args.file)
    timeline = read_timeline(args.file)
    if not timeline.sequences:
        raise MttdError(f"cannot read {args.file}: no sequence in the file")
    try:
        seq = pick_sequence(timeline, args.sequence)
    except KeyError:
        names = ", ".join(repr(s.name) for s in timeline.sequences)
        raise MttdError(f"{args.file}: no sequence named {args.sequence!r} (sequences: {names})") from None
    if not out.parent.is_dir():
        raise MttdError(f"cannot write {out}: no folder {out.parent}")
    return _render(timeline, seq.name, _load_model(args.model), out, args.pages, args.row_seconds)


def _load_model(requested: str | None):
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.inference.load import load_predictor

    spec = requested if requested is not None else load(paths_mod.resolve()).model or None
    # auto, like `mttd suggest`: the committed ONNX export, so drawing never needs torch
    return load_predictor(spec, "auto", paths_mod.resolve().data_dir / "onnx")


def _render(timeline, sequence: str, predictor, out: Path, pages: str = "off", row_s: float = 60.0) -> int:
    # numpy/torch load only when this command runs (daemon/cli.py imports every command module)
    from model.viz.geometry import ZOOM_AFTER_S
    from model.viz.render import draw_geometry, draw_pages, geometry_for

    geom = geometry_for(timeline, sequence, predictor, row_s=row_s)
    paged = pages == "on" or (pages == "auto" and geom.duration_s > ZOOM_AFTER_S)
    try:
        written = draw_geometry(geom, out, paged=paged)
        page_files = draw_pages(geom, out) if paged else []
    except OSError as err:
        raise MttdError(f"cannot write {out}: {err.strerror or err}") from None
    counts = {kind: len(geom.of_kind(kind)) for kind in ("clip", "review", "next", "fill")}
    print(
        f"wrote {written}  (sequence {sequence!r}, {len(geom.lanes)} tracks, {counts['clip']} clips, "
        f"{counts['review']} review, {counts['next']} next, {counts['fill']} fill)"
    )
    if page_files:
        print(f"wrote {len(page_files)} pages of {row_s:g}-second rows: {page_files[0]} ... {page_files[-1].name}")
    return 0
