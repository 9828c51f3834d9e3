"""Regenerate the Python modules beside the .proto files (grpcio-tools 1.85.1, from the repo root).

    python protos/generate.py            # rewrite protos/mtt/v1/*_pb2*.py(i) in place
    python protos/generate.py --out DIR  # write the same tree under DIR (the freshness test)

The include root is the repo root (`-I .`), so the generated modules import each other as
`protos.mtt.v1.xxx_pb2` and the descriptors are named `protos/mtt/v1/xxx.proto`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROTO_DIR = Path("protos") / "mtt" / "v1"
TOOLS_VERSION = "1.85.1"


def proto_files() -> list[Path]:
    """The .proto files, relative to the repo root, in a stable order."""
    return sorted(p.relative_to(REPO) for p in (REPO / PROTO_DIR).glob("*.proto"))


def generate(out: Path) -> list[Path]:
    """Run protoc for every .proto file into `out`; return the files written (relative to out)."""
    import grpc_tools
    from grpc_tools import protoc

    installed = _tools_version()
    if installed != TOOLS_VERSION:
        raise SystemExit(f"generate.py: grpcio-tools {TOOLS_VERSION} required, {installed} installed")
    out.mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        "-I.",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(p) for p in proto_files()),
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise SystemExit(f"generate.py: protoc failed with exit code {rc}")
    return sorted(p.relative_to(out) for p in (out / PROTO_DIR).glob("*_pb2*.py*"))


def _tools_version() -> str:
    from importlib.metadata import version

    return version("grpcio-tools")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO, help="root to write the tree under (default: the repo)")
    args = parser.parse_args(argv)
    import os

    os.chdir(REPO)  # protoc resolves `-I.` and the .proto paths against the repo root
    for path in generate(args.out.resolve()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
