# Sourced by install.sh and uninstall.sh: sets $python to a Python 3.11 or newer.
python=""
for candidate in ${MTTD_PYTHON:-} python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python=$candidate
        break
    fi
done
if [ -z "$python" ]; then
    echo "mttd install: needs Python 3.11 or newer with the venv module (Debian/Ubuntu: apt install python3-venv); set MTTD_PYTHON to one" >&2
    exit 1
fi
