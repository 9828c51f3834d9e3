#!/bin/sh
# Per-user install of mttd (Linux, macOS): no administrator rights, nothing outside your home.
#   installer/install.sh [--with-training [--torch-index URL]] [--no-modify-path] [--from PATH|WHEEL]
#                        [--no-service] [--no-plugins] [--dry-run]
# Needs Python 3.11 or newer (set MTTD_PYTHON to choose one). Run it again to upgrade in place.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
. "$here/find-python.sh"
PYTHONPATH="$(dirname -- "$here")" exec "$python" -m installer install "$@"
