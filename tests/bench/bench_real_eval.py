"""Real-edit evaluation: a model against Markov (fitted on each timeline's own past) and persistence
on the real timelines of the shared corpus (xmeml, fcpxml, kdenlive), per production.

    python tests/bench/bench_real_eval.py [--model PATH] [--json OUT] [--by production|folder] [--rollouts]
    python tests/bench/bench_real_eval.py --from-json OUT      (the tables of a saved run again)
    python tests/bench/bench_real_eval.py --model RUN --productions broshow,msub2000   (held-out productions only)

The corpus is ../shared/corpus relative to the repository (as tests/conftest.py finds it), or
--corpus. Files that cannot be read are skipped with a one-line note. Prints, overall and per
production, every metric for the three systems with the paired bootstrap 95 % interval of
model - Markov over the production's sequences (overall also with whole productions resampled;
`mttd eval` computes all of it: see model/training/evaluate.py), the sequences with too few cuts to score, and how long it took: the
seconds each system spent, so the model's time stands beside the baselines' measured in the same
run, and the peak memory. A production with one sequence has no interval.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

CORPUS = REPO.parent / "shared" / "corpus"
SUFFIXES = frozenset({".xml", ".xmeml", ".fcpxml", ".kdenlive"})
HEADLINE = ("next_active_acc", "next_asset_acc", "cut_time_mae_s", "iou_changed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a .safetensors file or run folder (default: the bundled model)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--by", choices=("production", "folder"), default="production")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the whole evaluation document here")
    parser.add_argument("--rollouts", action="store_true", help="also the rollout rates (slow on long programmes)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--productions", default=None, metavar="A,B",
                        help="only these productions (e.g. those a model was not trained on; names as in the table)")
    parser.add_argument("--from-json", type=Path, default=None, metavar="IN", help="print the tables of a saved run instead")
    return parser.parse_args(argv)


def fmt_value(v, fmt: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def fmt_diff(entry: dict, fmt: str) -> str:
    signed = fmt.replace("{:", "{:+")
    if entry is None or entry["diff"] is None or math.isnan(entry["diff"]):
        return "-"
    lo, hi = entry["ci95"]
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return signed.format(entry["diff"]) + " (n=1)"
    return f"{signed.format(entry['diff'])} [{signed.format(lo)}, {signed.format(hi)}]"


def table(doc: dict, groups: dict[str, dict], rows_spec) -> list[str]:
    """One block of metric rows per group: model / Markov / persistence, model - Markov [paired 95 %]."""
    lines = ["| production | seqs | steps | metric | model | Markov | persistence | model - Markov [paired 95 %] |",
             "|---|---|---|---|---|---|---|---|"]
    for name, g in [("ALL", doc), *groups.items()]:
        first = True
        for key, sub, label, fmt in rows_spec:
            if key not in g["model"]:
                continue
            pick = (lambda d: d[key]) if sub is None else (lambda d: d[key][sub])  # noqa: E731
            cells = [fmt_value(pick(g[s]), fmt) for s in ("model", "markov", "persistence")]
            head = f"{name} | {g['sequences']} | {g['steps']}" if first else " | | "
            diff = fmt_diff(pick(g["model_minus_markov"]), fmt)
            if name == "ALL" and "model_minus_markov_by_production" in doc:
                diff += f"; productions resampled {fmt_diff(pick(doc['model_minus_markov_by_production']), fmt)}"
            lines.append(f"| {head} | {label} | " + " | ".join(cells) + f" | {diff} |")
            first = False
    return lines


def headline(doc: dict, groups: dict[str, dict], rows_spec) -> list[str]:
    """A compact table: per production, model / Markov and the paired interval for the four headline metrics."""
    spec = {key: (label, fmt) for key, sub, label, fmt in rows_spec if sub is None}
    cols = [spec[k][0] for k in HEADLINE]
    lines = ["| production | seqs | steps | " + " | ".join(f"{c}: model / Markov (model - Markov [95 %])" for c in cols) + " |",
             "|---|---|---|" + "---|" * len(cols)]
    for name, g in [("ALL", doc), *groups.items()]:
        cells = []
        for key in HEADLINE:
            fmt = spec[key][1]
            cells.append(f"{fmt_value(g['model'][key], fmt)} / {fmt_value(g['markov'][key], fmt)} "
                         f"({fmt_diff(g['model_minus_markov'][key], fmt)})")
        lines.append(f"| {name} | {g['sequences']} | {g['steps']} | " + " | ".join(cells) + " |")
        if name == "ALL" and "model_minus_markov_by_production" in doc:  # the same lead, whole productions resampled
            cells = [f"(productions resampled: {fmt_diff(doc['model_minus_markov_by_production'][k], spec[k][1])})" for k in HEADLINE]
            lines.append("| ALL | | | " + " | ".join(cells) + " |")
    return lines


def too_few_cuts(rows: list[dict]) -> list[str]:
    """Sequences where a cut metric has nothing to score: no cut to predict, or fewer than two to time."""
    out = []
    for r in rows:
        empty = [k for k in ("next_active_acc", "next_asset_acc", "cut_time_mae_s") if _nan(r["model"][k])]
        if empty:
            out.append(f"- {r['file']} ({r['name']}): {r['steps']} steps, {r['cuts']} cuts; no {', '.join(empty)}")
    return out


def _progress(n: int, total: int) -> None:
    print(f"evaluated {n}/{total} sequences", file=sys.stderr, flush=True)


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        doc = json.loads(args.from_json.read_text())
    else:
        if not args.corpus.is_dir():
            print(f"bench_real_eval: no corpus at {args.corpus}", file=sys.stderr)
            return 1
        doc = run_evaluation(args)
    print(report(doc))
    if args.json:
        from model.training.evaluate import to_json

        args.json.write_text(json.dumps(to_json(doc), indent=1))
        print(f"wrote {args.json}")
    return 0


def run_evaluation(args: argparse.Namespace) -> dict:
    """The evaluation document with timings (doc["bench"])."""
    from model.training.train_args import passive_omp

    passive_omp()
    import torch

    from model.features.grid import DEFAULT_STEP
    from model.inference.load import load_predictor
    from model.training import evaluate

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = load_predictor(args.model)
    evalset = evaluate.from_folder(args.corpus, None, model.step_seconds or DEFAULT_STEP, SUFFIXES)
    if args.productions:
        evalset = only_productions(evalset, args.productions.split(","))
    t_read = time.perf_counter() - t0
    t1 = time.perf_counter()
    doc = evaluate.evaluate(model, evalset, rollouts=args.rollouts, by=args.by, progress=_progress)
    doc["bench"] = {"read_seconds": t_read, "eval_seconds": time.perf_counter() - t1,
                    "system_seconds": {s: sum(r["seconds"].get(s, 0.0) for r in doc["per_sequence"])
                                       for s in (*evaluate.SYSTEMS, "candidates")},
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    "threads": args.threads, "rollouts": args.rollouts}
    return doc


def only_productions(evalset, names: list[str]):
    """The sequences of the named productions (an unknown name is an error, not an empty table)."""
    from model.training.evaluate import EvalSet

    known = {o.production for o in evalset.origins}
    unknown = sorted(set(names) - known)
    if unknown:
        raise SystemExit(f"bench_real_eval: no production {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    keep = [k for k, o in enumerate(evalset.origins) if o.production in names]
    source = evalset.source.split(" (")[0] + f" ({len(keep)} sequences of {', '.join(names)}, Markov on each sequence's own past)"
    return EvalSet([evalset.sequences[k] for k in keep], evalset.markov, source, [evalset.origins[k] for k in keep])


def report(doc: dict) -> str:
    from model.training.evaluate import ROWS

    rows, info, bench = doc["per_sequence"], doc["model_info"], doc["bench"]
    seconds = bench["system_seconds"]
    longest = max(rows, key=lambda r: r["steps"])
    few = too_few_cuts(rows)
    return "\n".join([
        f"Real-edit evaluation of {info['name']} {info['version']} ({info['sha256'][:12]}) on {doc['data']}: "
        f"{doc['sequences']} sequences from {len({r['file'] for r in rows})} files, {doc['steps']:,} steps, "
        f"{len(doc['groups'])} {doc['by']}s.", "",
        *headline(doc, doc["groups"], ROWS), "",
        *table(doc, doc["groups"], ROWS), "",
        f"Sequences with too few cuts to score ({len(few)}; left out of the means of those metrics):",
        *(few or ["- none"]), "",
        f"Time: reading {bench['read_seconds']:.1f} s, evaluation {bench['eval_seconds']:.1f} s (model "
        f"{seconds['model']:.1f} s, Markov {seconds['markov']:.1f} s, persistence {seconds['persistence']:.1f} s, "
        f"candidate sources shared by the three {seconds.get('candidates', 0.0):.1f} s); "
        f"longest sequence {longest['steps']:,} steps ({longest['file']}); peak memory {bench['peak_rss_mb']:.0f} MB; "
        f"{bench['threads']} threads{'' if bench['rollouts'] else ', no rollouts'}.",
    ])


if __name__ == "__main__":
    sys.exit(main())
