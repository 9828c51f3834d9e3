"""What a model file and the JSON beside it share, torch-free: the file's hash, and reading the
JSON with one-line errors. The torch checkpoint and the ONNX export each bring their own error
class and schema; the daemon's ONNX path must not import torch to read them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def read_meta_json(model: Path, meta: Path, schema: str, error: type[Exception], missing_hint: str = "") -> dict:
    """The JSON `meta` beside `model`, of the given schema; `error` naming the file and the reason
    when it is missing, unreadable or not ours."""
    try:
        doc = json.loads(meta.read_text())
    except FileNotFoundError:
        raise error(f"{model}: its metadata {meta.name} is missing{missing_hint}") from None
    except (OSError, ValueError) as err:
        raise error(f"{meta}: not valid JSON ({first_line(err)})") from None
    found = doc.get("schema") if isinstance(doc, dict) else None
    if found != schema:
        raise error(f"{meta}: schema {found!r}, expected {schema!r}")
    return doc
