"""The network on ONNX Runtime behind the `Predictor` protocol, without torch.

`OnnxPredictor` runs a graph written by `model.onnx_export` (fp32 or int8) and does what
`model.network.NetworkPredictor` does around its network, in numpy: the same inputs, the same
chunked teacher-forced pass through the key/value cache, the same marginal predictions and the
same rollout draws. A test holds the two to each other on real timelines; keep them in step.

Where the ONNX files live: the bundled model ships `default.onnx` and `default.int8.onnx` beside
`default.safetensors` (2.5 and 9 MB; a first start without torch is the point of the backend).
Any other checkpoint is looked up beside itself (`NAME.onnx`, `NAME.int8.onnx`, as `mttd export`
writes them) and then in a cache folder keyed by its sha256, where an explicit `onnx` or
`onnx-int8` backend exports it once (that first export needs torch). Every file carries the
sha256 of the checkpoint it came from in its JSON, and a file of another checkpoint is ignored.

`auto` takes onnx-int8, else onnx, whose stored check says its evaluation metrics stay within one
point of torch fp32 on the held-out set (`mttd export --metrics`); else torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from model.features import MAX_SLOT, N_TRACKS, SequenceFeatures
from model.history import (
    History,
    HistoryArrays,
    feed,
    history_arrays,
    score_candidates,
    single_step,
)
from model.metrics import Forecast
from model.predictor import N_SLOTS, Predictions, Rollout
from model.timeline import SOURCE_KINDS

log = logging.getLogger("mttd.onnx")

META_SCHEMA = "mtt.onnx/1"
INPUTS = ("active", "values", "motion", "slot", "kind", "recency", "seen", "age", "age_any")
BACKENDS = ("torch", "onnx", "onnx-int8", "auto")
NONE, MOVE, CUT = 0, 1, 2  # event classes, as model.network
MOVE_START = 0.2  # as model.network.MOVE_START
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default.safetensors"


class OnnxModelError(Exception):
    """An ONNX model that cannot be used; the message is one line naming the file and the reason."""


def meta_path(onnx_path: Path) -> Path:
    return Path(str(onnx_path) + ".json")


def onnx_name(weights: Path, int8: bool) -> Path:
    """Where `mttd export` puts a checkpoint's ONNX files by default: beside it."""
    return weights.with_suffix(".int8.onnx" if int8 else ".onnx")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- numpy side (as model.network)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def velocity(grid: np.ndarray, cut: np.ndarray, prev: np.ndarray | None = None) -> np.ndarray:
    before = np.zeros_like(grid[..., :1, :, :]) if prev is None else prev[..., None, :, :]
    previous = np.concatenate([before, grid[..., :-1, :, :]], axis=-3)
    inside = ((grid[..., 0] > 0.5) & (previous[..., 0] > 0.5) & ~cut)[..., None]
    return np.where(inside, grid[..., 2:] - previous[..., 2:], 0.0)


@dataclass(frozen=True)
class ValueNorm:
    """model.network.Norm as arrays (its JSON form is what the export stores)."""

    mean: np.ndarray
    std: np.ndarray
    delta: np.ndarray
    delta_log: bool = False

    @classmethod
    def from_json(cls, doc: dict) -> ValueNorm:
        arr = {k: np.asarray(doc[k], np.float32) for k in ("mean", "std", "delta")}
        return cls(**arr, delta_log=bool(doc.get("delta_log", False)))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.mean, self.std, self.delta

    def delta_change(self, head: np.ndarray, snap: bool = False) -> np.ndarray:
        x = np.sign(head) * np.expm1(np.abs(head)) if self.delta_log else head
        if snap:
            x = np.where(np.abs(x) < 0.5, 0.0, x)
        return x * self.delta


def encode_inputs(grid, kind, hist: HistoryArrays, norm: ValueNorm, prev=None) -> dict[str, np.ndarray]:
    mean, std, dscale = norm.arrays()
    active = grid[..., 0] > 0.5
    values = np.where(active[..., None], np.clip((grid[..., 2:] - mean) / std, -10, 10), 0.0)
    step = velocity(grid, hist.cut, prev) / dscale
    motion = np.concatenate([np.any(step != 0, axis=-1, keepdims=True), np.sign(step) * np.log1p(np.abs(step))], axis=-1)
    return {
        "active": active.astype(np.float32),
        "values": values.astype(np.float32),
        "motion": motion.astype(np.float32),
        "slot": np.where(active, grid[..., 1].astype(np.int64) + 1, 0),
        "kind": kind.astype(np.int64),
        "recency": hist.recency.astype(np.int64) + 1,
        "seen": hist.seen.astype(np.int64),
        "age": hist.age.astype(np.int64),
        "age_any": hist.age_any.astype(np.int64),
    }


def _motion(speed: np.ndarray, delta: np.ndarray, norm: ValueNorm, snap: bool = False) -> np.ndarray:
    moving = np.any(speed != 0, axis=-1, keepdims=True)
    return np.where(moving, speed, norm.delta_change(delta, snap))


def _draw(p: np.ndarray, rng: np.random.Generator, sample: bool) -> np.ndarray:
    if not sample:
        return np.argmax(p, axis=-1)
    u = rng.random(p.shape[0])[:, None]
    return np.minimum((np.cumsum(p, axis=-1) < u * p.sum(-1, keepdims=True)).sum(-1), p.shape[-1] - 1)


def _kind_code(feats: SequenceFeatures, index: int) -> int:
    if 0 <= index < len(feats.sources):
        return 1 + SOURCE_KINDS.index(feats.sources[index].kind)
    return 1


def _batch(hist: HistoryArrays, tail: int | None = None) -> HistoryArrays:
    sl = slice(tail, None)
    return HistoryArrays(**{k: getattr(hist, k)[sl][None] for k in ("cut", "change", "recency", "seen", "age", "age_any")})


# ---------------------------------------------------------------- the predictor


class OnnxPredictor:
    """`Predictor` on an exported graph; `backend` is "onnx" or "onnx-int8"."""

    name = "mtt"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        path = Path(path)
        self.path = path
        self.meta = read_meta(path)
        self.backend = "onnx-int8" if self.meta["int8"] else "onnx"
        self.version = self.meta["version"]
        self.sha256 = self.meta["source_sha256"]  # the model's identity is its checkpoint's
        self.step_seconds = Fraction(self.meta["step_seconds"])
        self.review_thresholds = self.meta.get("review_thresholds")
        self.norm = ValueNorm.from_json(self.meta["norm"])
        self.event_shift = float(self.meta.get("event_prior_shift", 0.0))
        self.context = int(self.meta["context"])
        cache = self.meta["cache"]
        self._cache_dims = (cache["n_layer"], 1, cache["n_head"], cache["head_size"])
        self._heads = [(str(n), int(k)) for n, k in self.meta["heads"]]
        self._session = _session(path, threads)

    # -- the graph

    def run(self, x: dict[str, np.ndarray], start: int, cache: tuple[np.ndarray, np.ndarray] | None):
        """Head outputs {name: (1, T, 20, n)} of T new steps at positions start.. and the new cache."""
        if cache is None:
            n_layer, b, n_head, hs = self._cache_dims
            empty = np.zeros((n_layer, b, n_head, 0, hs), np.float32)
            cache = (empty, empty)
        steps = x["active"].shape[1]
        feeds = {k: np.ascontiguousarray(x[k]) for k in INPUTS}
        feeds.update(pos=np.arange(start, start + steps, dtype=np.int64), past_k=cache[0], past_v=cache[1])
        heads, keys, values = self._session.run(None, feeds)
        bounds = np.cumsum([n for _, n in self._heads])[:-1]
        return dict(zip((n for n, _ in self._heads), np.split(heads, bounds, axis=-1))), (keys, values)

    def trim(self, cache):
        keep = self.context - 1
        return cache[0][:, :, :, -keep:], cache[1][:, :, :, -keep:]

    # -- teacher-forced outputs

    def outputs(self, feats: SequenceFeatures) -> dict[str, np.ndarray]:
        self._check_step(feats)
        hist = history_arrays(feats.grid, feats.source_index)
        x = encode_inputs(feats.grid[None], feats.source_kind[None], _batch(hist), self.norm)
        parts: list[dict[str, np.ndarray]] = []
        cache = None
        for a in range(0, feats.steps, self.context):
            out, cache = self.run({k: v[:, a : a + self.context] for k, v in x.items()}, a, cache)
            cache = self.trim(cache)
            parts.append({k: v[0] for k, v in out.items()})
        if not parts:
            return {name: np.zeros((0, N_TRACKS, n), np.float32) for name, n in self._heads}
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return self.calibrate(out, feats.grid[..., 0] > 0.5)

    def calibrate(self, out: dict[str, np.ndarray], active: np.ndarray) -> dict[str, np.ndarray]:
        if self.event_shift:
            event = out["event"].copy()
            event[..., CUT] -= self.event_shift * ~active
            out = {**out, "event": event}
        return out

    def predict(self, feats: SequenceFeatures) -> Predictions:
        return self.marginal(feats, self.outputs(feats))

    def marginal(self, feats: SequenceFeatures, out: dict[str, np.ndarray]) -> Predictions:
        mean, std, _ = self.norm.arrays()
        grid = feats.grid
        event = softmax(out["event"])
        p_cut = event[..., CUT]
        active_now = grid[..., 0] > 0.5
        p_on_after_cut = softmax(out["active"])[..., 1]
        p_active = p_cut * p_on_after_cut + (1 - p_cut) * active_now
        after_cut = softmax(out["asset"])
        current = np.eye(N_SLOTS, dtype=np.float32)[grid[..., 1].astype(np.int64).clip(0, MAX_SLOT)]
        stay = ((1 - p_cut) * active_now)[..., None]
        mixed = stay * current + (p_cut * p_on_after_cut)[..., None] * after_cut
        asset = np.where(active_now[..., None], mixed / np.maximum(mixed.sum(-1, keepdims=True), 1e-9), after_cut)
        cut_values = out["values"] * std + mean
        moving = (event[..., MOVE] > 0.5)[..., None]
        speed = velocity(grid, history_arrays(grid, feats.source_index).cut)
        kept_values = grid[..., 2:] + np.where(moving, _motion(speed, out["delta"], self.norm, snap=True), 0.0)
        keep = (active_now & (p_cut < 0.5))[..., None]
        return Predictions(
            p_active=p_active.astype(np.float32),
            asset_probs=asset.astype(np.float32),
            values=np.where(keep, kept_values, cut_values).astype(np.float32),
            p_change=(1 - event[..., NONE]).astype(np.float32),
        )

    def forecast(self, feats: SequenceFeatures, out: dict[str, np.ndarray] | None = None) -> Forecast:
        out = self.outputs(feats) if out is None else out
        mean, std, _ = self.norm.arrays()
        grid = feats.grid
        event = softmax(out["event"])
        p_active_cut = softmax(out["active"])[..., 1]
        active_now = grid[..., 0] > 0.5
        cut = ~active_now | (event[..., CUT] >= event[..., MOVE])
        speed = velocity(grid, history_arrays(grid, feats.source_index).cut)
        moved = grid[..., 2:] + _motion(speed, out["delta"], self.norm)
        return Forecast(
            p_cut=event[..., CUT],
            p_active_cut=p_active_cut,
            slot_probs=softmax(out["asset"]),
            recency_probs=softmax(out["recency"]),
            p_active_change=np.where(cut, np.where(active_now, p_active_cut, 1.0), 1.0).astype(np.float32),
            values_change=np.where(cut[..., None], out["values"] * std + mean, moved).astype(np.float32),
        )

    # -- generation

    def rollout(self, feats: SequenceFeatures, start: int, n_steps: int, *, seed: int = 0, sample: bool = True) -> Rollout:
        self._check_step(feats)
        if not 0 <= start <= feats.steps:
            raise ValueError(f"rollout start {start} outside 0..{feats.steps}")
        rng = np.random.default_rng(seed)
        hist = History()
        grid, src, kind = feats.grid[:start], feats.source_index[:start], feats.source_kind[:start]
        if start == 0:
            grid, src, kind = np.zeros((1, N_TRACKS, 9), np.float32), np.full((1, N_TRACKS), -1), np.zeros((1, N_TRACKS), np.int8)
        arrays = feed(hist, grid, src)
        keep = min(len(grid), self.context)
        prev = grid[None, -keep - 1] if len(grid) > keep else None
        x = encode_inputs(grid[None, -keep:], kind[None, -keep:], _batch(arrays, -keep), self.norm, prev)
        out_grid = np.zeros((n_steps, N_TRACKS, 9), np.float32)
        out_src = np.full((n_steps, N_TRACKS), -1, np.int32)
        conf = np.zeros((n_steps, N_TRACKS), np.float32)
        pos = len(grid) - keep
        speed = velocity(grid[-2:], arrays.cut[-2:])[-1]
        out, cache = self.run(x, pos, None)
        pos += keep
        for n in range(n_steps):
            last = self.calibrate({k: v[0, -1] for k, v in out.items()}, hist.active)
            row, srow, krow, conf[n] = self._choose(last, hist, feats, rng, sample, speed)
            out_grid[n] = row
            out_src[n] = np.where(srow < len(feats.sources), srow, -1)
            if n == n_steps - 1:
                break
            last = np.concatenate([hist.active[:, None], np.zeros((N_TRACKS, 1)), hist.values], axis=1)
            st = hist.step(row[:, 0] > 0.5, srow, row[:, 2:])
            speed = velocity(row[None], st.cut[None], last)[0]
            x = encode_inputs(row[None, None], krow[None, None], single_step(st), self.norm, last[None])
            out, cache = self.run(x, pos, self.trim(cache))
            pos += 1
        return Rollout(grid=out_grid, source_index=out_src, confidence=conf)

    def _choose(self, out, hist: History, feats: SequenceFeatures, rng, sample: bool, speed: np.ndarray):
        mean, std, _ = self.norm.arrays()
        was_on = hist.active
        event = softmax(out["event"]) * np.where(was_on[:, None], 1.0, [1.0, 0.0, 1.0])
        still = ~np.any(speed != 0, axis=-1)
        event[still & (event[:, MOVE] < MOVE_START), MOVE] = 0.0
        event /= event.sum(-1, keepdims=True)
        ev = _draw(event, rng, sample)
        conf = event[np.arange(N_TRACKS), ev].astype(np.float32)
        keep = was_on & (ev != CUT)
        row = np.zeros((N_TRACKS, 9), np.float32)
        srow = np.where(keep, hist.src, -1)
        row[keep, 0], row[keep, 1] = 1.0, np.minimum(srow[keep], MAX_SLOT)
        row[keep, 2:] = hist.values[keep] + np.where((ev == MOVE)[keep, None], _motion(speed, out["delta"], self.norm)[keep], 0.0)
        on, slots, recency = softmax(out["active"])[:, 1], softmax(out["asset"]), softmax(out["recency"])
        for i in np.flatnonzero(ev == CUT):
            p_on = np.array([1 - on[i], on[i]]) if was_on[i] else np.array([0.0, 1.0])
            show = int(_draw(p_on[None], rng, sample)[0])
            conf[i] *= p_on[show]
            if not show:
                continue
            cands = [c for c in hist.candidates(i) if c[0] != hist.src[i]]
            scores = score_candidates(cands, slots[i], recency[i])
            scores = scores / max(scores.sum(), 1e-12)
            c = int(_draw(scores[None], rng, sample)[0])
            conf[i] *= scores[c]
            srow[i] = cands[c][0]
            row[i, 0], row[i, 1], row[i, 2:] = 1.0, min(srow[i], MAX_SLOT), out["values"][i] * std + mean
        krow = np.array([_kind_code(feats, int(s)) if s >= 0 else 0 for s in srow])
        return row, srow, krow, conf

    def _check_step(self, feats: SequenceFeatures) -> None:
        if Fraction(feats.step_seconds) != self.step_seconds:
            raise ValueError(f"the model works on {self.step_seconds} s steps, the features have {feats.step_seconds} s")


def read_meta(path: Path) -> dict:
    """The JSON beside an ONNX file; OnnxModelError (one line) when it is missing or not ours."""
    if not path.is_file():
        raise OnnxModelError(f"{path}: no such ONNX file")
    mpath = meta_path(path)
    try:
        meta = json.loads(mpath.read_text())
    except FileNotFoundError:
        raise OnnxModelError(f"{path}: its metadata {mpath.name} is missing (export it with `mttd export`)") from None
    except (OSError, ValueError) as err:
        raise OnnxModelError(f"{mpath}: not valid JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(meta, dict) or meta.get("schema") != META_SCHEMA:
        raise OnnxModelError(f"{mpath}: schema {meta.get('schema') if isinstance(meta, dict) else None!r}, expected {META_SCHEMA!r}")
    return meta


def quiet_onnxruntime() -> None:
    """Keep ONNX Runtime from writing a telemetry device id into ~/.cache/Microsoft: mttd is a local
    tool that leaves nothing outside its own folders (the uninstall test checks the whole home)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def _session(path: Path, threads: int | None):
    quiet_onnxruntime()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # cores are shared with the editor
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - ORT raises its own exception types for every kind of bad file
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OnnxModelError(f"{path}: not a readable ONNX model ({reason[:200]})") from None


def load_onnx_predictor(path: str | Path, threads: int | None = None) -> OnnxPredictor:
    return OnnxPredictor(path, threads)


# ---------------------------------------------------------------- choosing a backend


def weights_path(spec: str | Path | None) -> Path:
    """The .safetensors file of a model spec (None or "" = the bundled default; a run folder -> best)."""
    if not spec:
        return DEFAULT_WEIGHTS
    path = Path(spec)
    return path / "best.safetensors" if path.is_dir() else path


def find_export(weights: Path, int8: bool, cache_dir: Path | None, sha: str | None = None) -> Path | None:
    """An ONNX file exported from exactly these weights (sha256 `sha`): beside them, else in the cache."""
    if not weights.is_file():
        return None
    sha = sha or sha256_file(weights)
    candidates = [onnx_name(weights, int8)]
    if cache_dir is not None:
        candidates.append(cached_name(cache_dir, sha, int8))
    for path in candidates:
        try:
            if path.is_file() and read_meta(path).get("source_sha256") == sha:
                return path
        except OnnxModelError as err:
            log.warning("ignoring %s", err)
    return None


def cached_name(cache_dir: Path, sha: str, int8: bool) -> Path:
    return Path(cache_dir) / f"{sha[:16]}{'.int8' if int8 else ''}.onnx"


def passes_check(path: Path) -> bool:
    """True when the stored evaluation check says every metric stays within 1 point of torch fp32."""
    check = read_meta(path).get("check", {}).get("metrics")
    return bool(check and check.get("within_1_point"))


def load_predictor_with_backend(spec: str | None, backend: str = "auto", cache_dir: Path | None = None,
                                threads: int | None = None) -> tuple[Any, str]:
    """(predictor, backend that runs) for a model spec.

    torch: the network in torch. onnx / onnx-int8: the exported graph (exported into `cache_dir`
    first when none exists: that needs torch once). auto: the fastest export whose stored check
    passes, else torch. Raises OnnxModelError or model.checkpoint.ModelLoadError (one line).
    """
    if backend not in BACKENDS:
        raise OnnxModelError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    weights = weights_path(spec)
    sha = sha256_file(weights) if weights.is_file() else None
    if backend == "auto":
        for int8 in (True, False) if have_onnxruntime() else ():
            found = find_export(weights, int8, cache_dir, sha)
            if found is None or not passes_check(found):
                continue
            try:
                pred = OnnxPredictor(found, threads)
            except OnnxModelError as err:  # a damaged export must not cost the user their suggestions
                log.warning("%s; trying the next backend", err)
                continue
            return pred, pred.backend
        backend = "torch"
    if backend == "torch":
        from model.network import load_predictor

        return load_predictor(weights), "torch"
    if not have_onnxruntime():
        raise OnnxModelError(f"the {backend} backend needs onnxruntime, which is not installed (pip install 'mttd[onnx]')")
    int8 = backend == "onnx-int8"
    found = find_export(weights, int8, cache_dir, sha)
    if found is None:
        if cache_dir is None:
            raise OnnxModelError(f"{weights}: no {backend} export beside it (run `mttd export --format onnx{' --int8' if int8 else ''} --model {weights}`)")
        found = export_to_cache(weights, int8, cache_dir)
    pred = OnnxPredictor(found, threads)
    return pred, pred.backend


def have_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def export_to_cache(weights: Path, int8: bool, cache_dir: Path) -> Path:
    from model.checkpoint import load
    from model.onnx_export import export

    ckpt = load(weights)
    out = cached_name(cache_dir, ckpt.sha256, int8)
    out.parent.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s to %s (once)", weights, out)
    export(ckpt, out, int8=int8, windows=2, window_steps=64)
    return out


# ---------------------------------------------------------------- the held-out set


HELD_OUT_SEED = 90210  # synthetic timelines of a seed no dataset build uses by default


def held_out_features(data: str | Path | None, count: int, step: Fraction) -> list[SequenceFeatures]:
    """Up to `count` held-out sequences: the val split of a dataset folder when it exists (the
    checkpoint's own data), else a folder of timelines, else freshly synthesised timelines."""
    from model import evaluate

    path = Path(data) if data else None
    if path is not None and (path / "manifest.json").is_file():
        return evaluate.from_dataset(path, count, fit_markov=False).sequences
    if path is not None and path.is_dir():
        return evaluate.from_folder(path, count, step).sequences
    from model.features import featurize_timeline
    from model.synth import STYLES, synthesize

    feats = []
    for k in range(count):
        tl = synthesize(STYLES[k % len(STYLES)], HELD_OUT_SEED, k, (0.5, 1.0))
        feats.extend(f for f in featurize_timeline(tl, step)[:1] if f.steps >= 2)
    return feats


def model_errors() -> tuple[type[Exception], ...]:
    """The one-line model errors a load may raise; ModelLoadError only once torch's side is loaded
    (it lives in model.checkpoint, which imports torch)."""
    import sys

    checkpoint = sys.modules.get("model.checkpoint")
    return (OnnxModelError,) if checkpoint is None else (OnnxModelError, checkpoint.ModelLoadError)
