"""The daemon on the ONNX backend: it says so in `mttd status`, answers, and never loads torch."""

from __future__ import annotations

import json
from pathlib import Path

from protos.mtt.v1 import suggester_pb2 as pb
from tests.helpers_daemon import SAMPLE, client_for, make_home, mttd, running_daemon
from tests.helpers_onnx import copy_model, tiny_exports


def test_daemon_serves_the_int8_export_without_torch(tmp_path: Path, tmp_path_factory) -> None:
    weights = copy_model(tiny_exports(tmp_path_factory)[0], tmp_path / "model")
    home = make_home(tmp_path, model=str(weights), backend="onnx-int8", keep_alive=-1)
    with running_daemon(home) as record:
        with client_for(home) as client:
            doc = json.loads(client.suggest(pb.SuggestRequest(path=str(SAMPLE))).document_json)
        status = json.loads(mttd(home, "status", "--json").stdout)
        maps = Path(f"/proc/{record['pid']}/maps").read_text()
    assert doc["model"]["version"] == "tiny-1" and doc["sequences"][0]["steps"] > 0
    assert status["model"]["backend"] == "onnx-int8" and status["model"]["loaded"]
    assert "libtorch" not in maps and "onnxruntime" in maps  # torch's libraries were never mapped
