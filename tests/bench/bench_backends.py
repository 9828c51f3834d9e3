"""Benchmark the inference backends against torch eager, in one run (not collected by pytest).

    python tests/bench/bench_backends.py [--rounds N] [--threads N] [--model M] [--skip-daemon]

Figures, each beside torch's from the same run:
1. `mttd bench --json` (forward at 128..1,024 steps, 100-step rollout, metric deltas), `--rounds`
   times; per figure the best of the rounds (goal: onnx-int8 at least 1.5x torch at 256 steps and
   above, every metric within 1 point);
2. the daemon per backend: wall time of `mttd start` until it serves (goal: under 1.5 s on
   onnx-int8), its resident memory after one Suggest call (goal: under 250 MB) and whether
   torch's libraries were ever mapped into it.
The ONNX files come from beside the weights (`mttd export --format onnx [--int8] --metrics`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO.parent / "shared" / "corpus" / "OpenTimelineIO__otio-fcp-adapter" / "premiere_example.xml"
BACKENDS = ("torch", "onnx", "onnx-int8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default=None)
    parser.add_argument("--skip-daemon", action="store_true")
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []
    docs = []
    for r in range(args.rounds):
        out = _mttd("bench", "--json", "--threads", str(args.threads), *model)
        docs.append(json.loads(out))
        print(f"round {r + 1}: done", file=sys.stderr)
    print_latency(docs, args.threads)
    print_deltas(docs[-1])
    if not args.skip_daemon:
        print_daemon([measure_daemon(b, args.model, args.threads) for b in ("torch", "onnx-int8") for _ in range(args.rounds)])
    return 0


def _mttd(*args: str, env: dict | None = None) -> str:
    run = subprocess.run([sys.executable, "-m", "daemon.cli", *args], cwd=REPO, capture_output=True, text=True,
                         env=env, timeout=1800, check=False)
    if run.returncode != 0:
        raise SystemExit(f"mttd {' '.join(args)} failed: {run.stderr.strip()}")
    return run.stdout


def print_latency(docs: list[dict], threads: int) -> None:
    best = {b: {k: min(d["backends"][b]["forward_ms"][k] for d in docs) for k in docs[0]["backends"][b]["forward_ms"]}
            for b in BACKENDS}
    roll = {b: min(d["backends"][b]["rollout_100_ms"] for d in docs) for b in BACKENDS}
    steps = list(best["torch"])
    print(f"\nms per call, {threads} thread(s), best of {len(docs)} rounds (speed-up against torch eager)")
    print("| backend | " + " | ".join(f"T={t}" for t in steps) + " | rollout 100 |")
    print("|---|" + "---|" * (len(steps) + 1))
    for b in BACKENDS:
        cells = [f"{best[b][t]:.1f} ({best['torch'][t] / best[b][t]:.2f}x)" for t in steps]
        print(f"| {b} | " + " | ".join(cells) + f" | {roll[b]:.0f} ({roll['torch'] / roll[b]:.2f}x) |")


def print_deltas(doc: dict) -> None:
    print("\nmetric deltas against torch fp32 (points; None = no such events in the set)")
    keys = list(doc["metric_delta"]["onnx"])
    print("| metric | " + " | ".join(doc["metric_delta"]) + " |")
    print("|---|" + "---|" * len(doc["metric_delta"]))
    for k in keys:
        cells = [("-" if d[k] is None else f"{d[k]:+.2f}") for d in doc["metric_delta"].values()]
        print(f"| {k} | " + " | ".join(cells) + " |")


def measure_daemon(backend: str, model: str | None, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="mttd-bench-home-") as tmp:
        home = Path(tmp) / "home"
        (home / "config").mkdir(parents=True, mode=0o700)
        settings = {"backend": backend, "keep_alive": -1, "threads": threads, **({"model": model} if model else {})}
        (home / "config" / "config.toml").write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
        env = {**os.environ, "MTTD_HOME": str(home)}
        t = time.perf_counter()
        _mttd("start", env=env)
        start_s = time.perf_counter() - t
        try:
            _suggest(home)
            status = json.loads(_mttd("status", "--json", env=env))
            maps = Path(f"/proc/{status['pid']}/maps").read_text()
        finally:
            _mttd("stop", env=env)
    return {"backend": status["model"]["backend"], "start_s": start_s, "rss_mb": status["rss_mb"], "torch": "libtorch" in maps}


def _suggest(home: Path) -> None:
    sys.path.insert(0, str(REPO))
    os.environ["MTTD_HOME"] = str(home)
    from daemon import paths as paths_mod
    from daemon.client import DaemonClient
    from daemon.process import find_daemon
    from protos.mtt.v1 import suggester_pb2 as pb

    paths = paths_mod.resolve({"MTTD_HOME": str(home)})
    with DaemonClient.for_record(find_daemon(paths), paths) as client:
        client.suggest(pb.SuggestRequest(path=str(SAMPLE)))


def print_daemon(rows: list[dict]) -> None:
    print("\ndaemon: `mttd start` until SERVING, resident memory after one Suggest")
    print("| backend | start (s) | RSS (MB) | torch mapped |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['start_s']:.2f} | {r['rss_mb']:.0f} | {'yes' if r['torch'] else 'no'} |")


if __name__ == "__main__":
    sys.exit(main())
