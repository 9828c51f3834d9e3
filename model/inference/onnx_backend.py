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

Which backend runs a model (`auto` among them) is decided in `model.inference.load`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np

from model.features.own_past import own_past_gate
from model.inference.decoding import Decoder, Norm
from model.inference.model_files import ModelLoadError, read_meta_json, sha256_file

log = logging.getLogger(__name__)

META_SCHEMA = "mtt.onnx/1"
INPUTS = ("active", "values", "motion", "slot", "kind", "recency", "seen", "age", "age_any")


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
        self.own_past = own_past_gate(self.meta)
        self.context = int(self.meta["context"])
        cache = self.meta["cache"]
        self._cache_dims = (cache["n_layer"], 1, cache["n_head"], cache["head_size"])
        self.n_layer = int(cache["n_layer"])
        self.heads = tuple((str(n), int(k)) for n, k in self.meta["heads"])
        self._session = _session(path, threads)
        # One step at a time is bound by per-operator overhead, where waking a second thread
        # costs more than it saves (0.72 ms a step on one thread, 1.30 ms on two).
        self._step_session = self._session if threads == 1 else None
        self.workers = threads or usable_cores()  # a long pass splits over as many threads as a run may use
        self._one_thread_runs = 0  # inside parallel_scope: every run on the one-thread session

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
        one = steps == 1 or self._one_thread_runs
        heads, keys, values = (self._single_thread() if one else self._session).run(None, feeds)
        bounds = np.cumsum([n for _, n in self.heads])[:-1]
        return dict(zip((n for n, _ in self.heads), np.split(heads, bounds, axis=-1))), (keys, values)

    @contextmanager
    def parallel_scope(self):
        """Parts of a pass on several threads: each runs the one-thread session (ONNX Runtime
        sessions take concurrent runs), not the session that would use every core for each."""
        self._single_thread()
        self._one_thread_runs += 1
        try:
            yield
        finally:
            self._one_thread_runs -= 1

    def _single_thread(self):
        if self._step_session is None:
            self._step_session = _session(self.path, 1)
        return self._step_session

    def window(self, cache, lo: int | None, hi: int | None):
        return cache[0][:, :, :, lo:hi], cache[1][:, :, :, lo:hi]


def usable_cores() -> int:
    """The cores this process may run on (its affinity: a container's cpuset, `taskset`), else all."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def read_meta(path: Path) -> dict:
    """The JSON beside an ONNX file; ModelLoadError (one line) when it is missing or not ours."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such ONNX file")
    return read_meta_json(path, meta_path(path), META_SCHEMA, " (export it with `mttd export`)")


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
    # No memory arena: it kept ~40 MB past a long programme's pass (the daemon's peak is to stay under
    # 400 MB on 40 minutes) and saved no measurable time (5.43 vs 5.38 s of CPU for all kinds there).
    opts.enable_cpu_mem_arena = False
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - ORT raises its own exception types for every kind of bad file
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(f"{path}: not a readable ONNX model ({reason[:200]})") from None


# ---------------------------------------------------------------- finding an export


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
        except ModelLoadError as err:
            log.warning("ignoring %s", err)
    return None


def cached_name(cache_dir: Path, sha: str, int8: bool) -> Path:
    return Path(cache_dir) / f"{sha[:16]}{'.int8' if int8 else ''}.onnx"


def passes_check(path: Path) -> bool:
    """True when the stored evaluation check says every metric stays within 1 point of torch fp32."""
    check = read_meta(path).get("check", {}).get("metrics")
    return bool(check and check.get("within_1_point"))


def have_onnxruntime() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None
