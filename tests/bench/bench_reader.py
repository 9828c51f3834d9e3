"""Benchmark: read + featurize xmeml with mttd vs. read with OpenTimelineIO's FCP7 adapter, same run.

Run: python tests/bench/bench_reader.py [--repeat N]
Goals (issue 2): at least 10x faster than OpenTimelineIO; the generated 20-track, 2,000-clip file
read and featurized in under 1 s on one core. mttd reads through model.timeline.formats, as the
CLI, the daemon and the watcher do. Issue 17 (each file parsed once): `parse` is the hardened XML
parse alone, and `parsed twice` the same read + featurize with the second parse the reader did
before, measured in the same run as the baseline of reading once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import opentimelineio as otio  # noqa: E402

from model.features.grid import featurize_timeline  # noqa: E402
from model.timeline.formats import read_timeline  # noqa: E402
from model.timeline.safe_xml import parse_xml_bytes  # noqa: E402
from model.timeline.xmeml import read_xmeml_bytes  # noqa: E402
from model.timeline.xmeml_writer import write_xmeml_file  # noqa: E402
from tests.helpers_reader import build_timeline  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
LARGEST = 6


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def ours(path: Path) -> None:
    featurize_timeline(read_timeline(path))


def parse_only(path: Path) -> None:
    parse_xml_bytes(path.read_bytes(), str(path))


def parsed_twice(path: Path) -> None:
    """Before issue 17: formats parsed the file to find its format, then xmeml parsed it again."""
    data = path.read_bytes()
    parse_xml_bytes(data, str(path))
    featurize_timeline(read_xmeml_bytes(data, str(path)))


def theirs(path: Path) -> None:
    otio.adapters.read_from_file(str(path), adapter_name="fcp_xml")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per file (default 3)")
    args = parser.parse_args()
    files = sorted(CORPUS.glob("*/*.xml"), key=lambda p: p.stat().st_size, reverse=True)[:LARGEST]
    with tempfile.TemporaryDirectory() as tmp:
        generated = Path(tmp) / "generated-20x2000.xml"
        write_xmeml_file(build_timeline(20, 2000), generated)
        files.append(generated)
        print(f"{'file':40} {'size':>8} {'parse':>9} {'mttd read+feat':>15} {'parsed twice':>13} {'OTIO read':>10} {'ratio':>7}")
        ratios = []
        for path in files:
            parse = best_of(args.repeat, lambda: parse_only(path))
            mine, twice = best_of(args.repeat, lambda: ours(path)), best_of(args.repeat, lambda: parsed_twice(path))
            other = best_of(max(1, args.repeat - 1), lambda: theirs(path))
            ratios.append(other / mine)
            print(f"{path.name[:40]:40} {path.stat().st_size / 1e6:7.2f}M {parse * 1000:6.1f} ms {mine * 1000:12.1f} ms "
                  f"{twice * 1000:10.1f} ms {other * 1000:7.0f} ms {other / mine:6.1f}x")
        gen_time = best_of(args.repeat, lambda: ours(generated))
    print(f"min ratio {min(ratios):.1f}x (goal >= 10x); generated 20x2000 read+featurize {gen_time * 1000:.0f} ms (goal < 1000 ms)")
    return 0 if min(ratios) >= 10 and gen_time < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
