"""Training shards from folders of timelines (TEAM.md "Dataset shards"), and loading them back.

`build_dataset` reads every timeline file (in parallel), featurizes each top-level sequence,
splits by file (style-stratified when the style shows in a synthetic file name, so no timeline is
on both sides), cuts windows with a stride (the last partial window included), computes
normalisation statistics on the training split over active cells only, and writes
`DATA/{train,val}/shard-NNNNN.npz` plus `DATA/manifest.json`. Files that fail are listed and skipped.
Never imports torch: the trainer converts the numpy arrays of `load_split` itself.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import zipfile
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from model.atomic import write_atomic
from model.features.grid import DEFAULT_STEP, N_FIELDS, N_TRACKS, featurize
from model.timeline.formats import read_timeline
from model.timeline.kinds import kind_of
from model.training.augment import shift_sequence
from model.training.synth import style_from_file_name

SCHEMA = "mtt.dataset/1"
SPLITS = ("train", "val")
SHARD_ROWS = 65536  # rows (steps) per shard, about 47 MB of grid; a timeline never spans two shards
STAT_COLUMNS = {"scale": (2,), "pos_x": (3,), "pos_y": (4,), "crop": (5, 6, 7, 8)}

Progress = Callable[[int, int], None]


@dataclass
class Split:
    """One split, all shards concatenated (row indices in `offsets` and `windows` are global)."""

    grid: np.ndarray  # float32 (N, 20, 9)
    source_index: np.ndarray  # int32 (N, 20)
    source_kind: np.ndarray  # int8 (N, 20)
    offsets: np.ndarray  # int64 (n_timelines + 1,)
    windows: np.ndarray  # int64 (n_windows, 2): first row, length
    timeline_ids: np.ndarray  # int64 (n_timelines,): index into manifest["timelines"]

    @property
    def steps(self) -> int:
        return int(self.grid.shape[0])

    def timeline(self, k: int) -> slice:
        return slice(int(self.offsets[k]), int(self.offsets[k + 1]))


@dataclass(frozen=True)
class BuildOptions:
    step: Fraction = DEFAULT_STEP
    window: int = 256
    stride: int = 128
    val_fraction: float = 0.1
    seed: int = 0
    jobs: int = 2
    jitter: int = 0  # phase-shifted copies of each training timeline (model.training.augment.shift_sequence)


@dataclass
class _Sequence:
    """One featurized sequence, sent between processes as its active cells only (a tenth of the bytes)."""

    name: str
    phase_frames: int
    steps: int
    cells: np.ndarray  # int32 (n,): flat index step * 20 + track of each active cell
    values: np.ndarray  # float32 (n, 9)
    source_index: np.ndarray  # int32 (n,)
    source_kind: np.ndarray  # int8 (n,)
    sums: np.ndarray  # (4, 3): count, sum, sum of squares per STAT_COLUMNS entry, active cells only

    @classmethod
    def packed(cls, name: str, phase_frames: int, f) -> _Sequence:
        cells = np.flatnonzero(f.grid[:, :, 0].ravel() > 0.5).astype(np.int32)
        values = f.grid.reshape(-1, f.grid.shape[2])[cells]
        return cls(name, phase_frames, f.steps, cells, values, f.source_index.ravel()[cells],
                   f.source_kind.ravel()[cells], stat_sums(values))


@dataclass
class _Read:
    """What a worker sends back for one file."""

    path: str
    sha256: str = ""
    sequences: list[_Sequence] = field(default_factory=list)
    error: str | None = None


def find_timeline_files(sources: Iterable[str | Path]) -> list[Path]:
    """Timeline files under each folder (recursively) or given directly; our own sidecars are skipped."""
    found: set[Path] = set()
    for src in sources:
        src = Path(src)
        candidates = src.rglob("*") if src.is_dir() else [src]
        for p in candidates:
            if p.is_file() and kind_of(p) is not None:
                found.add(p.resolve())
            elif p == src and not p.is_dir():
                found.add(p.resolve())  # named explicitly: read it and report whatever is wrong
    return sorted(found)


def assign_splits(paths: list[Path], val_fraction: float, seed: int) -> dict[Path, str]:
    """Each file's split: per style group (or one group of unknown style) a seeded share goes to val.

    Each group sends round(val_fraction x size) files to validation, at least one when it has two or more.
    """
    groups: dict[str, list[Path]] = {}
    for p in paths:
        groups.setdefault(style_from_file_name(p.name) or "", []).append(p)
    splits: dict[Path, str] = {}
    for group, members in sorted(groups.items()):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), zlib.crc32(group.encode())])))
        order = rng.permutation(len(members))
        n_val = int(val_fraction * len(members) + 0.5)
        if val_fraction > 0 and len(members) >= 2:
            n_val = max(1, n_val)  # a small folder still gets something to validate on
        for rank, i in enumerate(order):
            splits[members[int(i)]] = "val" if rank < n_val else "train"
    return splits


def windows_for(steps: int, window: int, stride: int) -> list[tuple[int, int]]:
    """(start, length) windows every `stride` rows; the last one may be shorter and ends the timeline."""
    out = []
    for start in range(0, steps, stride):
        length = min(window, steps - start)
        if length < 2:
            break  # a single step holds no next-step target
        out.append((start, length))
        if start + length >= steps:
            break
    return out


def read_features(path: str, step: Fraction, jitter: int = 0) -> _Read:
    """Read and featurize one file, plus `jitter` sub-step phase-shifted copies of each sequence."""
    result = _Read(path)
    try:
        data = Path(path).read_bytes()
        result.sha256 = hashlib.sha256(data).hexdigest()
        timeline = read_timeline(path)
        for seq in timeline.sequences:
            for shift in (0, *jitter_shifts(jitter, step * seq.rate.fps)):
                f = featurize(shift_sequence(seq, shift) if shift else seq, step)
                result.sequences.append(_Sequence.packed(seq.name, shift, f))
    except Exception as err:  # noqa: BLE001 - any failure is reported per file and the build goes on
        result.sequences = []
        one_line = getattr(err, "one_line", None)
        result.error = one_line() if one_line else f"{path}: {type(err).__name__}: {err}"
    return result


def _read_star(args: tuple[str, Fraction, int]) -> _Read:
    return read_features(*args)


def jitter_shifts(copies: int, frames_per_step: Fraction) -> tuple[int, ...]:
    """Distinct sub-step phase shifts in frames, spread evenly over one step (none when a step is < 2 frames)."""
    shifts = {int(round((j + 1) * frames_per_step / (copies + 1))) for j in range(copies)}
    return tuple(sorted(s for s in shifts if 0 < s < frames_per_step))


def build_dataset(
    sources: Iterable[str | Path], out: str | Path, options: BuildOptions = BuildOptions(),
    progress: Progress | None = None,
) -> dict:
    """Build the shards and the manifest in `out`; return the manifest."""
    out = Path(out)
    paths = find_timeline_files(sources)
    splits = assign_splits(paths, options.val_fraction, options.seed)
    disk = ThreadPoolExecutor(max_workers=1)  # shards are written and hashed while the readers go on
    writers = {s: _ShardWriter(out / s, s, options, disk) for s in SPLITS}
    manifest: dict = {
        "schema": SCHEMA, "step_seconds": str(options.step), "window": options.window, "stride": options.stride,
        "seed": options.seed, "val_fraction": options.val_fraction, "jitter": options.jitter,
        "timelines": [], "failed": [],
    }
    stats = _RunningStats()
    empty = 0
    for done, read in enumerate(_read_all(paths, splits, options), 1):
        if read.error is not None:
            manifest["failed"].append({"path": read.path, "error": read.error})
        split = splits[Path(read.path)]
        for seq in read.sequences:
            if seq.steps < 2:
                empty += 1
                continue
            entry = {"id": len(manifest["timelines"]), "path": read.path, "sha256": read.sha256, "split": split,
                     "style": style_from_file_name(Path(read.path).name), "sequence": seq.name,
                     "steps": seq.steps}
            if options.jitter:
                entry["phase_frames"] = seq.phase_frames
            manifest["timelines"].append(entry)
            writers[split].add(entry["id"], seq)
            if split == "train":
                stats.add(seq.sums)
        if progress is not None:
            progress(done, len(paths))
    shards = {s: writers[s].close() for s in SPLITS}
    disk.shutdown()
    manifest["stats"] = stats.result()
    manifest["counts"] = _counts(paths, manifest, shards, empty)
    manifest["shards"] = shards
    manifest["sha256"] = hashlib.sha256(json.dumps(shards, sort_keys=True).encode()).hexdigest()
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def _read_all(paths: list[Path], splits: dict[Path, str], options: BuildOptions):
    """Results in path order; jittered copies only for training files."""
    tasks = [(str(p), options.step, options.jitter if splits[p] == "train" else 0) for p in paths]
    if options.jobs <= 1 or len(tasks) < 4:
        yield from map(_read_star, tasks)
        return
    with multiprocessing.get_context().Pool(options.jobs) as pool:
        yield from pool.imap(_read_star, tasks, chunksize=2)


def _counts(paths: list[Path], manifest: dict, shards: dict, empty: int) -> dict:
    counts: dict = {"files": len(paths), "failed": len(manifest["failed"]), "empty_sequences": empty,
                    "timelines": len(manifest["timelines"])}
    for s in SPLITS:
        counts[s] = {
            "files": len({t["path"] for t in manifest["timelines"] if t["split"] == s}),
            "timelines": sum(sh["timelines"] for sh in shards[s]),
            "steps": sum(sh["rows"] for sh in shards[s]),
            "windows": sum(sh["windows"] for sh in shards[s]),
            "shards": len(shards[s]),
        }
    return counts


class _ShardWriter:
    """Accumulates timelines and writes a shard whenever SHARD_ROWS rows are reached."""

    def __init__(self, folder: Path, split: str, options: BuildOptions, disk: ThreadPoolExecutor) -> None:
        self.folder, self.split, self.options, self.disk = folder, split, options, disk
        self.pending: list[tuple[int, _Sequence]] = []
        self.rows = 0
        self.futures: list[tuple[dict, Future]] = []
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("shard-*.npz"):
            old.unlink()

    def add(self, timeline_id: int, seq: _Sequence) -> None:
        self.pending.append((timeline_id, seq))
        self.rows += seq.steps
        if self.rows >= SHARD_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        seqs = [s for _, s in self.pending]
        offsets = np.concatenate([[0], np.cumsum([s.steps for s in seqs])]).astype(np.int64)
        windows = [(int(offsets[k]) + start, n) for k, seq in enumerate(seqs)
                   for start, n in windows_for(seq.steps, self.options.window, self.options.stride)]
        small = {
            "offsets": offsets,
            "windows": np.array(windows, np.int64).reshape(-1, 2),
            "timeline_ids": np.array([t for t, _ in self.pending], np.int64),
        }
        name = f"shard-{len(self.futures):05d}.npz"
        meta = {"file": f"{self.split}/{name}", "rows": int(offsets[-1]), "timelines": len(seqs), "windows": len(windows)}
        self.futures.append((meta, self.disk.submit(_write_shard, self.folder / name, seqs, small)))
        self.pending, self.rows = [], 0

    def close(self) -> list[dict]:
        self.flush()
        return [{**meta, "sha256": future.result()} for meta, future in self.futures]


def _write_shard(path: Path, seqs: list[_Sequence], small: dict[str, np.ndarray]) -> str:
    """Unpack the sequences into the dense shard arrays and write them; return the file's sha256."""
    rows = int(small["offsets"][-1])
    grid = np.zeros((rows * N_TRACKS, N_FIELDS), np.float32)
    source_index = np.full(rows * N_TRACKS, -1, np.int32)
    source_kind = np.zeros(rows * N_TRACKS, np.int8)
    for first_row, seq in zip(small["offsets"], seqs):
        at = seq.cells + int(first_row) * N_TRACKS
        grid[at], source_index[at], source_kind[at] = seq.values, seq.source_index, seq.source_kind
    dense = {"grid": grid.reshape(rows, N_TRACKS, N_FIELDS), "source_index": source_index.reshape(rows, N_TRACKS),
             "source_kind": source_kind.reshape(rows, N_TRACKS)}
    return save_npz(path, {**dense, **small})


class _HashingWriter:
    """A write-only, unseekable file that hashes what passes through (zipfile then streams its entries)."""

    def __init__(self, f, digest) -> None:
        self.f, self.position, self.digest = f, 0, digest

    def write(self, data) -> int:
        self.digest.update(data)
        self.position += len(data)
        return self.f.write(data)

    def tell(self) -> int:
        return self.position

    def seek(self, *args) -> int:
        raise OSError("not seekable")

    def flush(self) -> None:
        self.f.flush()


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write np.savez's format (loads with np.load) with fixed member timestamps; return the sha256.

    Same arrays, same bytes. The file is written in one pass and hashed on the way.
    """
    digest = hashlib.sha256()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as raw:
            out = _HashingWriter(raw, digest)
            with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for key, arr in arrays.items():
                    info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                    with zf.open(info, "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)

    write_atomic(path, write)
    return digest.hexdigest()


def stat_sums(active_cells: np.ndarray) -> np.ndarray:
    """(count, sum, sum of squares) per STAT_COLUMNS entry over active cells, (n, 9)."""
    cells = active_cells.astype(np.float64)
    out = np.zeros((len(STAT_COLUMNS), 3))
    for row, cols in enumerate(STAT_COLUMNS.values()):
        values = cells[:, list(cols)].ravel()
        out[row] = (values.size, values.sum(), np.dot(values, values))
    return out


class _RunningStats:
    """Mean and standard deviation per parameter type over active training cells."""

    def __init__(self) -> None:
        self.sums = np.zeros((len(STAT_COLUMNS), 3))

    def add(self, sums: np.ndarray) -> None:
        self.sums += sums

    def result(self) -> dict:
        out = {}
        for name, (n, s, ss) in zip(STAT_COLUMNS, self.sums):
            mean = s / n if n else 0.0
            var = max(0.0, ss / n - mean * mean) if n else 0.0
            out[name] = {"mean": float(mean), "std": float(np.sqrt(var)), "count": int(n)}
        return out


def load_manifest(data_dir: str | Path) -> dict:
    return json.loads((Path(data_dir) / "manifest.json").read_text())


def load_split(data_dir: str | Path, split: str) -> Split:
    """All shards of `split` ("train" or "val") concatenated, with row indices made global."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    manifest = load_manifest(data_dir)
    parts = []
    for shard in manifest.get("shards", {}).get(split, []):
        with np.load(Path(data_dir) / shard["file"], allow_pickle=False) as z:
            parts.append({k: z[k] for k in z.files})
    if not parts:
        return Split(np.zeros((0, 20, 9), np.float32), np.zeros((0, 20), np.int32), np.zeros((0, 20), np.int8),
                     np.zeros(1, np.int64), np.zeros((0, 2), np.int64), np.zeros(0, np.int64))
    base = np.cumsum([0] + [p["grid"].shape[0] for p in parts[:-1]])
    return Split(
        grid=np.concatenate([p["grid"] for p in parts]),
        source_index=np.concatenate([p["source_index"] for p in parts]),
        source_kind=np.concatenate([p["source_kind"] for p in parts]),
        offsets=np.concatenate([[0]] + [p["offsets"][1:] + b for p, b in zip(parts, base)]).astype(np.int64),
        windows=np.concatenate([p["windows"] + [b, 0] for p, b in zip(parts, base)]).astype(np.int64),
        timeline_ids=np.concatenate([p["timeline_ids"] for p in parts]).astype(np.int64),
    )
