"""RUN/REPORT.md and its plots (loss components, learning rate) for a training run.

Reads the run's best.json / final.json (which carry the whole history), evaluates the best
checkpoint against the baselines on the held-out split, draws a few held-out timelines as
`mttd viz` does, and writes REPORT.md, eval.json, losses.png, lr.png and val-STYLE.png beside
the checkpoints.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from model.inference.load import load_predictor
from model.inference.network import COMPONENTS
from model.timeline.formats import read_timeline
from model.training import evaluate
from model.training.schedule import MIN_LR, Plan, lr_at
from model.viz.render import render_timeline_png

MILESTONE_EVERY = 10
PICTURE_STYLES = ("documentary", "splitscreen", "slideshow")  # preferred; any style otherwise


def write_report(run: Path, eval_timelines: int = 60, threads: int = 2) -> Path:
    run = Path(run)
    final = json.loads((run / "final.json").read_text())
    best = json.loads((run / "best.json").read_text())
    history = final["history"]
    plot_losses(history, run / "losses.png")
    plot_lr(final, run / "lr.png")
    evaluation, model = _evaluate(run, final, eval_timelines, threads)
    pictures = validation_pictures(run, model, Path(final["data"])) if model is not None else ["(skipped: --eval-timelines 0)"]
    text = "\n".join(
        [
            f"# Training report: {run.name}",
            "",
            *_summary(final, best),
            "",
            "## Loss components (validation; train in brackets)",
            "",
            *_component_table(history),
            "",
            "![loss components](losses.png)",
            "",
            "## Milestones",
            "",
            *_milestones(history),
            "",
            "## Learning-rate schedule",
            "",
            *_schedule(final),
            "",
            "![learning rate](lr.png)",
            "",
            "## Architecture",
            "",
            *_architecture(final),
            "",
            "## Checkpoints",
            "",
            *_checkpoints(run),
            "",
            "## Evaluation against baselines (best checkpoint, held-out split)",
            "",
            evaluation,
            "",
            "## Held-out timelines as the model sees them",
            "",
            *pictures,
        ]
    )
    path = run / "REPORT.md"
    path.write_text(text + "\n")
    return path


def _summary(final: dict, best: dict) -> list[str]:
    args = final["args"]
    minutes = final.get("train_seconds", 0) / 60
    cmd = _command(args)
    return [
        f"- duration: {minutes:.1f} min of training ({final.get('world_size', 1)} process(es), {args.get('threads')} threads each)",
        f"- epochs: {final['epoch']} run of {final['plan']['epochs']} planned ({final['plan']['steps_per_epoch']} steps of "
        f"{args['batch']} windows each); {final.get('stopped', '')}",
        f"- best epoch: {best['epoch']}, best validation loss {_val(best['history'], best['epoch']):.4f}",
        f"- data: `{final['data']}` (manifest sha256 {final['manifest_sha256'][:16]}...), seed {args['seed']}",
        f"- initialised from: {final.get('init') or 'random (seeded)'}",
        f"- command: `{cmd}`",
    ]


def _command(args: dict) -> str:
    parts = ["mttd train"]
    for key in ("data", "out", "init", "epochs", "max_minutes", "batch", "lr", "seed", "patience", "epoch_windows", "val_windows", "window"):
        value = args.get(key)
        if value is not None:
            parts.append(f"--{key.replace('_', '-')} {value}")
    return " ".join(parts)


def _val(history: list[dict], epoch: int) -> float:
    return next(h["val"]["total"] for h in history if h["epoch"] == epoch)


def _component_table(history: list[dict]) -> list[str]:
    first, last = history[0], history[-1]
    rows = ["| component | initial (epoch 1) | final | improvement |", "|---|---|---|---|"]
    for c in (*COMPONENTS, "total"):
        a, b = first["val"][c], last["val"][c]
        ta, tb = first["train"][c], last["train"][c]
        gain = (a - b) / a * 100 if a else 0.0
        rows.append(f"| {c} | {a:.4f} ({ta:.4f}) | {b:.4f} ({tb:.4f}) | {gain:+.1f} % |")
    rows.append("")
    rows.append("event: nothing / values move / cut at t+1 (cross-entropy; tracks on at t weigh as much as all "
                "empty ones); active, asset, recency: "
                "what a cut leads to (cross-entropy at cuts); values: values after a cut, delta: a shot's motion at the "
                "steps where it moves (Huber in normalised units).")
    return rows


def _milestones(history: list[dict]) -> list[str]:
    rows = ["| epoch | train loss | val loss | lr | seconds |", "|---|---|---|---|---|"]
    picks = [h for h in history if h["epoch"] == 1 or h["epoch"] % MILESTONE_EVERY == 0 or h is history[-1]]
    for h in picks:
        rows.append(f"| {h['epoch']}{' (best)' if h.get('best') else ''} | {h['train']['total']:.4f} | {h['val']['total']:.4f} | "
                    f"{h['lr']:.2e} | {h['seconds']:.0f} |")
    return rows


def _schedule(final: dict) -> list[str]:
    plan = final["plan"]
    peak = final["args"]["lr"]
    return [f"Linear warmup over {plan['warmup']} steps to {peak:g}, then one cosine to {MIN_LR:g} at step "
            f"{plan['epochs'] * plan['steps_per_epoch']} (no restarts); AdamW, weight decay {final['args']['weight_decay']}, "
            f"gradient clipping at 1.0. {final['global_step']} steps were taken."]


def _architecture(final: dict) -> list[str]:
    cfg = final["config"]
    return [
        f"Multi-Track Transformer, {final['params']:,} parameters: per step, 20 track tokens (active, values normalised per "
        f"parameter type over active cells, source slot, source kind, recency, shot age; width {cfg['d_track']}) flattened "
        f"into d_model {cfg['d_model']}; {cfg['n_layer']} causal pre-LN layers, {cfg['n_head']} heads, feed-forward "
        f"{cfg['d_ff']}, rotary positions, attention span {cfg['context']} steps; a nonlinear per-track decoder "
        f"(width {cfg['d_dec']}) with heads event (3), active (2), asset slot (10), recency (8), values (7), delta (7).",
        "",
        "Normalisation (per value field): " + ", ".join(
            f"{name} {m:.3g}±{s:.3g}" for name, m, s in zip(("scale", "pos_x", "pos_y", "crop_l", "crop_r", "crop_t", "crop_b"),
                                                              final["norm"]["mean"], final["norm"]["std"])),
    ]


def _checkpoints(run: Path) -> list[str]:
    rows = ["| file | epoch | size |", "|---|---|---|"]
    for path in sorted(run.glob("*.safetensors")):
        if path.name.endswith(".optim.safetensors"):
            continue
        meta = json.loads(path.with_suffix(".json").read_text())
        rows.append(f"| {path.name} (+ .json, .optim.safetensors) | {meta['epoch']} | {path.stat().st_size / 1e6:.1f} MB |")
    return rows


def _evaluate(run: Path, final: dict, limit: int, threads: int):
    """(markdown, the best checkpoint's predictor), or a note and None when skipped."""
    if limit <= 0:
        return "(skipped: --eval-timelines 0)", None
    import torch

    torch.set_num_threads(threads)
    t0 = time.time()
    model = load_predictor(run / "best.safetensors")
    evalset = evaluate.from_dataset(Path(final["data"]), limit)
    doc = evaluate.evaluate(model, evalset)
    (run / "eval.json").write_text(json.dumps(evaluate.to_json(doc), indent=1))
    return evaluate.markdown(doc) + f"\n(evaluation took {time.time() - t0:.0f} s; `eval.json` holds the numbers and intervals.)", model


def validation_pictures(folder: Path, predictor, data: Path, count: int = 3) -> list[str]:
    """`mttd viz` pictures of the shortest held-out timeline of a few styles, written into
    `folder` as val-STYLE.png; the markdown lines that show them."""
    held_out = [t for t in json.loads((Path(data) / "manifest.json").read_text())["timelines"] if t["split"] == "val"]
    by_style: dict[str, dict] = {}
    for t in sorted(held_out, key=lambda t: t["steps"]):
        by_style.setdefault(t["style"], t)
    styles = [s for s in PICTURE_STYLES if s in by_style] + sorted(set(by_style) - set(PICTURE_STYLES))
    lines = [("Lanes per track coloured by source, frame diagrams for scale/position/crop, the model's "
              "guess per step under each lane, review suggestions boxed, next and fill hatched."), ""]
    for style in styles[:count]:
        t = by_style[style]
        path = Path(t["path"])
        if not path.is_file():
            lines += [f"- {style}: {path} is not on this machine, no picture", ""]
            continue
        out = render_timeline_png(read_timeline(path), t["sequence"], predictor, Path(folder) / f"val-{style}.png")
        lines += [f"### {style}: `{path.name}` ({t['steps']} steps)", "", f"![{style}]({out.name})", ""]
    return lines


def plot_losses(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(2, 4, figsize=(14, 6), sharex=True)
    for ax, c in zip(axes.flat, (*COMPONENTS, "total")):
        ax.plot(epochs, [h["train"][c] for h in history], label="train")
        ax.plot(epochs, [h["val"][c] for h in history], label="val")
        ax.set_title(c)
        ax.set_xlabel("epoch")
    axes.flat[0].legend()
    for ax in list(axes.flat)[len(COMPONENTS) + 1 :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_lr(final: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plan = Plan(**final["plan"])
    steps = list(range(plan.total))
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(steps, [lr_at(s, plan.total, plan.warmup, final["args"]["lr"]) for s in steps], label="planned")
    ax.axvline(final["global_step"], color="grey", linestyle="--", label="stopped")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str]) -> None:
    """`python -m model.training.report RUN` rewrites a run's report; `python -m model.training.report --pictures
    FOLDER --model M --data DATA` only draws the held-out pictures (the bundled model's folder
    holds no run) and prints their markdown."""
    if argv[:1] != ["--pictures"]:
        print(write_report(Path(argv[0])))
        return
    import argparse

    parser = argparse.ArgumentParser(prog="python -m model.training.report --pictures")
    parser.add_argument("--pictures", type=Path, required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args(argv)
    print("\n".join(validation_pictures(args.pictures, load_predictor(args.model), args.data)))


if __name__ == "__main__":
    main(sys.argv[1:])
