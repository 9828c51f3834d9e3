"""Long programmes (issue 19): a 40-minute, 20-track programme tiled from real corpus exports.

    python tests/bench/bench_long_programme.py [--backend onnx-int8] [--old] [--no-daemon] [--rounds N] [--forward-only]

The programme: the nick-animation-studio 22-minute storyboard edit (15 tracks) twice in a row,
then Kraakeklubben's 4 tracks twice on V16-V19 and BroShow Brocodes' score graphics on V20, all
cut at 40 minutes (frames converted to the storyboard's rate). Figures, each beside its goal:

0. the whole forward (the network over every step, the own-past gate and the predictions:
   `predict_primed` without a memo; goal 2 s with the int8 backend), best of --rounds, beside
   the pass on one thread as before it split over the predictor's threads (decoding.ChunkRun),
   measured in the same run (the outputs are bitwise the same: tests/test_ml_pass_parts.py);
1. all three kinds, in process, the first pass (goal 3 s with the int8 backend); with --old also
   the fill as it was before rollouts were bounded (every hole, each as long as it is), on the
   same machine in the same run;
2. a re-save after a one-clip change (a clip trimmed by 10 frames at 50 % and at 90 % of the
   programme): the pass that reuses the last one against a fresh pass (goal 1 s);
3. the daemon's resident memory (a real `mttd serve`): idle before, peak while suggesting on the
   40-minute file, and after (goal: under 400 MB while suggesting, near idle after).
The machine's load average is printed: it has 2 cores shared with other work, and every time
here scales with it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "corpus"

from model.timeline.formats import read_timeline  # noqa: E402
from model.timeline.types import Sequence, Timeline, Track  # noqa: E402

MINUTES = 40
STORYBOARD = "nick-animation-studio__fcp7xml-to-unreal/test_XML_export_filtered_premiere.xml"
KRAAKE = "havardgulldahl__xmeml/Kraakeklubben%20Pgm%205%20v3.xml"
BROCODES = "havardgulldahl__xmeml/BroShow ep Brocodes.xml"


def tiled_tracks(seq: Sequence, fps: Fraction, total: int, tracks: slice) -> list[Track]:
    """The sequence's tracks repeated end to end up to `total` frames at `fps`."""
    ratio = fps / seq.rate.fps
    length = round(seq.duration * ratio)
    out = []
    for track in seq.video_tracks[tracks]:
        items = []
        for k in range(-(-total // max(length, 1))):
            for it in track.items:
                start, end = round(it.start * ratio) + k * length, round(it.end * ratio) + k * length
                if start >= total:
                    continue
                items.append(replace(it, start=start, end=min(end, total), id=None))
        out.append(replace(track, items=tuple(items), transitions=()))
    return out


def long_programme() -> Timeline:
    base = read_timeline(CORPUS / STORYBOARD).sequences[0]
    fps = base.rate.fps
    total = round(MINUTES * 60 * fps)
    tracks = tiled_tracks(base, fps, total, slice(0, 15))
    tracks += tiled_tracks(read_timeline(CORPUS / KRAAKE).sequences[0], fps, total, slice(0, 4))
    tracks += tiled_tracks(read_timeline(CORPUS / BROCODES).sequences[0], fps, total, slice(2, 3))
    seq = replace(base, name="long programme", video_tracks=tuple(tracks[:20]), markers=())
    return Timeline("long-programme.xml", (seq,), format="xmeml")


def one_clip_changed(timeline: Timeline, at: float) -> Timeline:
    seq = timeline.sequences[0]
    t, i, item = min(((t, i, it) for t, tr in enumerate(seq.video_tracks) for i, it in enumerate(tr.items)),
                     key=lambda x: abs(x[2].start - at * seq.duration))
    items = list(seq.video_tracks[t].items)
    items[i] = replace(item, end=max(item.start + 1, item.end - 10))
    tracks = list(seq.video_tracks)
    tracks[t] = replace(tracks[t], items=tuple(items))
    return replace(timeline, sequences=(replace(seq, video_tracks=tuple(tracks)),))


_CPU = {"last": 0.0}


def timed(fn):
    """(wall seconds, value); the CPU seconds of the call are kept for `show` (on a shared machine
    they say more than the wall time: a load of 10 on 2 cores stretches the wall time 5 times)."""
    started, cpu = time.perf_counter(), time.process_time()
    value = fn()
    _CPU["last"] = time.process_time() - cpu
    return time.perf_counter() - started, value


def show(label: str, seconds: float, goal: str, baseline: str = "") -> None:
    print(f"  {label:<44} {seconds:7.2f} s wall {_CPU['last']:6.2f} s CPU   goal {goal:<8} {baseline}")


def whole_forward(timeline: Timeline, backend: str, rounds: int) -> None:
    from model.features.grid import featurize
    from model.inference.load import load_predictor

    predictor = load_predictor(None, backend)
    feats = featurize(timeline.sequences[0])
    network = {}
    run_pass = predictor._pass

    def timed_pass(*args, **kwargs):  # the network's share of each whole forward, from the same call
        wall, cpu = time.perf_counter(), time.process_time()
        value = run_pass(*args, **kwargs)
        network["last"] = (time.perf_counter() - wall, time.process_time() - cpu)
        return value

    predictor._pass = timed_pass
    workers = predictor.workers or predictor.default_workers()
    print(f"0. the whole forward over {feats.steps} steps ({backend}, best of {rounds}; load {os.getloadavg()[0]:.2f})")
    predictor.predict_primed(feats, ())  # warm: sessions, the one-thread session, allocator
    for label, n in ((f"split over {workers} threads", workers), ("one pass, as before", 1)):
        predictor.workers = n
        runs = []
        for _ in range(rounds):
            wall, _ = timed(lambda: predictor.predict_primed(feats, ()))
            runs.append((wall, _CPU["last"], *network["last"]))
        wall, cpu, net_wall, net_cpu = min(runs)  # the round with the least wall time
        best_cpu = min(r[1] for r in runs)
        print(f"  {label:<28} whole {wall:5.2f} s wall {cpu:5.2f} s CPU (least CPU {best_cpu:.2f})   goal 2 s   "
              f"(of which the network {net_wall:.2f} s wall {net_cpu:.2f} s CPU)")
    predictor.workers = None


def in_process(timeline: Timeline, backend: str, old: bool) -> None:
    from model.inference.load import load_predictor
    from model.suggest.items import SuggestOptions
    from model.suggest.pipeline import suggest

    predictor = load_predictor(None, backend)
    seq = timeline.sequences[0]
    print(f"programme: {seq.duration / float(seq.rate.fps) / 60:.1f} min, {len(seq.video_tracks)} tracks, "
          f"{sum(len(t.items) for t in seq.video_tracks)} clips; backend {backend}; load {os.getloadavg()[0]:.2f}")
    seconds, results = timed(lambda: suggest(timeline, predictor))
    r = results[0]
    stages = ", ".join(f"{k} {v / 1000:.2f}" for k, v in r.elapsed_ms.items())
    print("1. all kinds, first pass")
    show("review + next + fill", seconds, "3 s", f"({stages}; {len(r.review)} review, {len(r.next)} next, {len(r.fill)} fill)")
    if old:
        predictor.__dict__.pop("_memos", None)
        unbounded = SuggestOptions(kinds=("fill",), max_fills=10**6, max_rollout_s=10**6)
        old_s, old_r = timed(lambda: suggest(timeline, predictor, unbounded))
        show("fill, rollouts unbounded (the old fill)", old_s, "-", f"({len(old_r[0].fill)} fill)")
    print("2. a re-save after a one-clip change")
    for at in (0.5, 0.9):
        changed = one_clip_changed(timeline, at)
        suggest(timeline, predictor)  # the pass the re-save follows
        again_s, again = timed(lambda: suggest(changed, predictor))
        again_cpu = _CPU["last"]
        predictor.__dict__.pop("_memos", None)
        fresh_s, _ = timed(lambda: suggest(changed, predictor))
        fresh_cpu, _CPU["last"] = _CPU["last"], again_cpu
        stages = ", ".join(f"{k} {v / 1000:.2f}" for k, v in again[0].elapsed_ms.items())
        show(f"clip at {at:.0%}: reusing the last pass", again_s, "1 s",
             f"(a fresh pass {fresh_s:.2f} s wall, {fresh_cpu:.2f} s CPU; re-save stages: {stages})")


def daemon_memory(timeline: Timeline) -> None:
    from model.timeline.xmeml_writer import write_xmeml_file

    with tempfile.TemporaryDirectory(prefix="mttd-long-") as tmp:
        root = Path(tmp)
        path = root / "long-programme.xml"
        write_xmeml_file(timeline, path)
        home = root / "home"
        (home / "config").mkdir(parents=True, mode=0o700)
        (home / "config" / "config.toml").write_text("keep_alive = 5.0\n")
        env = {**os.environ, "MTTD_HOME": str(home)}
        subprocess.run([sys.executable, "-m", "daemon", "start"], env=env, cwd=REPO, check=True, capture_output=True)
        try:
            pid = _daemon_pid(home)
            idle = _rss_mb(pid)
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "daemon", "suggest", str(path), "--json"], env=env, cwd=REPO,
                                  capture_output=True, timeout=600)
            took = time.perf_counter() - started
            peak, after = _hwm_mb(pid), _rss_mb(pid)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and _rss_mb(pid) > idle + 30:
                time.sleep(0.5)
            unloaded = _rss_mb(pid)
        finally:
            subprocess.run([sys.executable, "-m", "daemon", "stop"], env=env, cwd=REPO, capture_output=True)
    print("3. the daemon's resident memory (MB)")
    print(f"  idle {idle:.0f}; peak while suggesting {peak:.0f} (goal 400; the issue's old figure 894 after); "
          f"right after {after:.0f}; after the model's keep-alive {unloaded:.0f} (goal: near idle)")
    print(f"  the call took {took:.1f} s end to end ({'ok' if done.returncode == 0 else done.stderr.decode()[-200:]})")


def _daemon_pid(home: Path) -> int:
    import json

    for _ in range(100):
        record = home / "state" / "mttd.json"
        if record.is_file():
            return int(json.loads(record.read_text())["pid"])
        time.sleep(0.1)
    raise SystemExit("the daemon wrote no state/mttd.json")


def _rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS") / 1024


def _hwm_mb(pid: int) -> float:
    return _status_kb(pid, "VmHWM") / 1024


def _status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--old", action="store_true", help="also time the unbounded fill (slow: a minute or more)")
    parser.add_argument("--no-daemon", action="store_true", help="skip the daemon memory figures")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the whole forward (the best is shown)")
    parser.add_argument("--forward-only", action="store_true", help="only the whole forward (figure 0)")
    args = parser.parse_args()
    timeline = long_programme()
    whole_forward(timeline, args.backend, args.rounds)
    if args.forward_only:
        return 0
    in_process(timeline, args.backend, args.old)
    if not args.no_daemon:
        daemon_memory(timeline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
