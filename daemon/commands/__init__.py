"""One module per `mttd` subcommand; see daemon/cli.py for the contract."""

from __future__ import annotations

from daemon.errors import MttdError
from model.inference.torch_extra import have_torch, torch_missing


def need_torch(what: str) -> None:
    """Raise MttdError with the one line on how to add torch, when this install has none."""
    if not have_torch():
        raise MttdError(str(torch_missing(what)))
