"""The network on ONNX Runtime behind the `Predictor` protocol, without torch.

`OnnxPredictor` runs a graph written by `model.training.onnx_export` (fp32 or int8) inside the same
numpy decoding as the torch network (`model.inference.decoding.Decoder`): it supplies only `run` and
`trim`. A test holds the two backends to each other on real timelines.

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

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from model.features.grid import SequenceFeatures
from model.inference.decoding import Decoder, Norm
from model.inference.model_files import read_meta_json, sha256_file

log = logging.getLogger(__name__)

META_SCHEMA = "mtt.onnx/1"
INPUTS = ("active", "values", "motion", "slot", "kind", "recency", "seen", "age", "age_any")
BACKENDS = ("torch", "onnx", "onnx-int8", "auto")
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "default.safetensors"


class OnnxModelError(Exception):
    """An ONNX model that cannot be used; the message is one line naming the file and the reason."""


def meta_path(onnx_path: Path) -> Path:
    return Path(str(onnx_path) + ".json")


def onnx_name(weights: Path, int8: bool) -> Path:
    """Where `mttd export` puts a checkpoint's ONNX files by default: beside it."""
    return weights.with_suffix(".int8.onnx" if int8 else ".onnx")


# ---------------------------------------------------------------- the predictor


class OnnxPredictor(Decoder):
    """`Predictor` on an exported graph; `backend` is "onnx" or "onnx-int8"."""

    # A rollout's cache is cut back only every 16 steps: the graph masks keys beyond the span
    # anyway, and cutting makes a strided view that ONNX Runtime copies (0.17 of a 0.7 ms step).
    trim_slack = 16

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        path = Path(path)
        self.path = path
        self.meta = read_meta(path)
        self.backend = "onnx-int8" if self.meta["int8"] else "onnx"
        self.version = self.meta["version"]
        self.sha256 = self.meta["source_sha256"]  # the model's identity is its checkpoint's
        self.step_seconds = Fraction(self.meta["step_seconds"])
        self.review_thresholds = self.meta.get("review_thresholds")
        self.norm = Norm(**self.meta["norm"])
        self.event_shift = float(self.meta.get("event_prior_shift", 0.0))
        self.context = int(self.meta["context"])
        cache = self.meta["cache"]
        self._cache_dims = (cache["n_layer"], 1, cache["n_head"], cache["head_size"])
        self.n_layer = int(cache["n_layer"])
        self.heads = tuple((str(n), int(k)) for n, k in self.meta["heads"])
        self._session = _session(path, threads)
        # One step at a time is bound by per-operator overhead, where waking a second thread
        # costs more than it saves (0.72 ms a step on one thread, 1.30 ms on two).
        self._step_session = self._session if threads == 1 else None

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
        heads, keys, values = (self._session if steps > 1 else self._single_thread()).run(None, feeds)
        bounds = np.cumsum([n for _, n in self.heads])[:-1]
        return dict(zip((n for n, _ in self.heads), np.split(heads, bounds, axis=-1))), (keys, values)

    def _single_thread(self):
        if self._step_session is None:
            self._step_session = _session(self.path, 1)
        return self._step_session

    def window(self, cache, lo: int | None, hi: int | None):
        return cache[0][:, :, :, lo:hi], cache[1][:, :, :, lo:hi]


def read_meta(path: Path) -> dict:
    """The JSON beside an ONNX file; OnnxModelError (one line) when it is missing or not ours."""
    if not path.is_file():
        raise OnnxModelError(f"{path}: no such ONNX file")
    return read_meta_json(path, meta_path(path), META_SCHEMA, OnnxModelError, " (export it with `mttd export`)")


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
    passes, else torch. Raises OnnxModelError or model.inference.checkpoint.ModelLoadError (one line).
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
        from model.inference.network import load_predictor

        return load_predictor(weights), "torch"
    if not have_onnxruntime():
        raise OnnxModelError(f"the {backend} backend needs onnxruntime, which is not installed (pip install 'mttd[onnx]')")
    int8 = backend == "onnx-int8"
    found = find_export(weights, int8, cache_dir, sha)
    if found is None:
        if cache_dir is None:
            command = f"mttd export --format onnx{' --int8' if int8 else ''} --model {weights}"
            raise OnnxModelError(f"{weights}: no {backend} export beside it (run `{command}`)")
        found = export_to_cache(weights, int8, cache_dir)
    pred = OnnxPredictor(found, threads)
    return pred, pred.backend


def have_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def export_to_cache(weights: Path, int8: bool, cache_dir: Path) -> Path:
    from model.inference.checkpoint import load
    from model.training.onnx_export import export

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
    from model.training import evaluate

    path = Path(data) if data else None
    if path is not None and (path / "manifest.json").is_file():
        return evaluate.from_dataset(path, count, fit_markov=False).sequences
    if path is not None and path.is_dir():
        return evaluate.from_folder(path, count, step).sequences
    from model.features.grid import featurize_timeline
    from model.training.synth import STYLES, synthesize

    feats = []
    for k in range(count):
        tl = synthesize(STYLES[k % len(STYLES)], HELD_OUT_SEED, k, (0.5, 1.0))
        feats.extend(f for f in featurize_timeline(tl, step)[:1] if f.steps >= 2)
    return feats


def model_errors() -> tuple[type[Exception], ...]:
    """The one-line model errors a load may raise; ModelLoadError only once torch's side is loaded
    (it lives in model.inference.checkpoint, which imports torch)."""
    import sys

    checkpoint = sys.modules.get("model.inference.checkpoint")
    return (OnnxModelError,) if checkpoint is None else (OnnxModelError, checkpoint.ModelLoadError)
