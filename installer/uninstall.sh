#!/bin/sh
# Remove mttd's per-user install (what install.sh recorded in its manifest).
#   installer/uninstall.sh [--purge] [--dry-run]     (--purge: also the config, data and logs)
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
. "$here/find-python.sh"
PYTHONPATH="$(dirname -- "$here")" exec "$python" -m installer uninstall "$@"
