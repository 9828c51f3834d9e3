"""What single-file and batch `mttd suggest` share: the model of the run, loaded on first use
only, and the one line that reports an error document."""

from __future__ import annotations

from daemon import paths as paths_mod


class Model:
    """The model of this run: what the user asked for (None: the configured one, which is the
    daemon's own, so it is not loaded there twice) and the spec loaded here, on first use only."""

    def __init__(self, requested: str | None, spec: str | None, backend: str = "auto") -> None:
        self.requested = requested
        self.spec = spec
        self.backend = backend
        self._predictor = None

    def get(self):
        """The predictor; ModelLoadError when it cannot be loaded."""
        if self._predictor is None:
            # model.inference.load: only when the model is needed (a daemon may answer instead)
            from model.inference.load import load_predictor

            cache = paths_mod.resolve().data_dir / "onnx"  # where the daemon keeps exports too
            self._predictor = load_predictor(self.spec, self.backend, cache)
        return self._predictor

    def identity(self):
        """Who the predictor is (name, version, sha256) without loading it, unless it is loaded."""
        # model.inference.load: only when the model is needed (a daemon may answer instead)
        from model.inference.load import model_identity

        return self._predictor or model_identity(self.spec)


def error_line(doc: dict) -> str:
    """What `mttd suggest` says about an error document, on one line."""
    error = doc["error"]
    return error["message"] if error["code"] == "no_such_sequence" else f"cannot read {error['message']}"
