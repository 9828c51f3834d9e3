"""The generated code committed beside the .proto files is exactly what protos/generate.py makes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

GENERATED = sorted((REPO / "protos" / "mtt" / "v1").glob("*_pb2*.py*"))


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "protos/generate.py", "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    fresh = sorted((tmp_path / "protos" / "mtt" / "v1").glob("*_pb2*.py*"))
    assert [p.name for p in fresh] == [p.name for p in GENERATED]
    stale = [p.name for p in GENERATED if p.read_bytes() != (tmp_path / p.relative_to(REPO)).read_bytes()]
    assert not stale, f"regenerate with `python protos/generate.py`: {stale} differ"


def test_service_and_protocol() -> None:
    from protos.mtt.v1 import PROTOCOL
    from protos.mtt.v1 import suggester_pb2 as pb

    service = pb.DESCRIPTOR.services_by_name["Suggester"]
    assert service.full_name == "mtt.v1.Suggester"
    methods = {m.name for m in service.methods}
    assert {"GetInfo", "GetStatus", "Suggest", "SuggestBatch", "Predict", "GetFeatures", "Shutdown",
            "Watch", "Unwatch", "ListWatches"} <= methods
    assert service.methods_by_name["SuggestBatch"].server_streaming
    assert [f.name for f in pb.SuggestRequest.DESCRIPTOR.oneofs_by_name["source"].fields] == ["path", "xml", "timeline"]
    assert PROTOCOL >= 1


def test_timeline_message_mirrors_the_bridge_json() -> None:
    from google.protobuf import json_format

    from protos.mtt.v1 import timeline_pb2

    doc = {"name": "S", "fps": [24000, 1001], "width": 1920, "height": 1080, "drop_frame": True,
           "tracks": [{"enabled": False, "items": [{"start": 0, "end": 10, "in": 5, "enabled": True, "name": "a",
                       "source": {"key": "k", "name": "n", "kind": "file", "path": "/m.mov", "width": 1, "height": 2},
                       "scale": 50.0, "pos_x": 0.1, "pos_y": 0.2, "crop_l": 1.0, "crop_r": 2.0, "crop_t": 3.0, "crop_b": 4.0}]}]}
    message = json_format.ParseDict(doc, timeline_pb2.Timeline())
    assert json_format.MessageToDict(message, always_print_fields_with_no_presence=True) == doc
