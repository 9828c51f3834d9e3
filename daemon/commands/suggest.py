"""`mttd suggest FILE`: review, next and fill suggestions for one timeline, in this process.

Human output by default; `--json` prints exactly the `NAME.mtt.json` document (the error
document for a file that cannot be read); `--out DIR` writes both sidecars there atomically.
Exit codes: 0 done, 1 the file could not be read (or the named sequence does not exist), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys

from daemon.commands import fail

KIND_NAMES = ("review", "next", "fill")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("suggest", help="suggest review, next and fill edits for a timeline file")
    p.add_argument("file", help="a timeline file (FCP7 XML, or another format the reader takes)")
    p.add_argument("--json", action="store_true", help="print the NAME.mtt.json document")
    p.add_argument("--out", metavar="DIR", help="write NAME.mtt.json and NAME.mtt.xml into DIR")
    p.add_argument("--model", metavar="M", help="a .safetensors file, a training run folder, or `persistence` (default: the bundled model)")
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
    from model.suggest import SuggestOptions

    return SuggestOptions(
        kinds=tuple(args.kinds),
        horizon_s=args.horizon,
        after_s=args.after,
        sequence=args.sequence,
        max_review=max(0, args.max_review),
    )


def run(args: argparse.Namespace) -> int:
    from model.suggest import load_predictor

    try:
        predictor = load_predictor(args.model)
    except (OSError, ValueError) as err:
        return fail(f"cannot load the model: {err}")
    return suggest_one(args.file, predictor, options_from_args(args), out_dir=args.out, as_json=args.json)


def suggest_one(path: str, predictor, options, *, out_dir: str | None, as_json: bool) -> int:
    """Suggest for one file, print it, and write the sidecars when asked: the unit of batch mode."""
    from model.sidecar import run_file, stem_of, write_sidecars

    result = run_file(path, predictor, options)
    doc = result.document
    if out_dir is not None:
        try:
            written = write_sidecars(doc, result.xml_bytes(), out_dir, stem_of(path))
        except OSError as err:
            return fail(f"cannot write sidecars into {out_dir}: {err.strerror or err}")
    if as_json:
        json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif result.ok:
        print(human_report(doc))
        if out_dir is not None:
            print("wrote " + ", ".join(str(p) for p in written))
    if not result.ok:
        if not as_json:
            fail(doc["error"]["message"] if doc["error"]["code"] == "no_such_sequence" else f"cannot read {doc['error']['message']}")
        return 1
    return 0


def human_report(doc: dict) -> str:
    lines = [f"{doc['source']['path']}  (model {doc['model']['name']} {doc['model']['version']}, {doc['elapsed_ms']['total']:.0f} ms)"]
    for seq in doc["sequences"]:
        seconds = seq["steps"] * seq["step_seconds"]
        lines.append(f"sequence {seq['name']!r}: {seconds:.1f} s")
        lines += _section("review", seq["review"], _review_line)
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
