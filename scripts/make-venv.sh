#!/usr/bin/env bash
# Create a virtualenv with the given Python. On a fresh Debian machine the
# venv module may be missing (it lives in the python3-venv package); when we
# run as root we install it, otherwise we say what to install.
set -euo pipefail
python="${1:?usage: make-venv.sh PYTHON VENV}"
venv="${2:?usage: make-venv.sh PYTHON VENV}"

if [ -z "$python" ]; then
    echo "No python3 found: install Python 3.10 or newer first." >&2
    exit 1
fi

if "$python" -m venv "$venv" 2>/dev/null; then
    exit 0
fi
rm -rf "$venv"

version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "The venv module is missing; installing python${version}-venv with apt-get." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${version}-venv" || \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    "$python" -m venv "$venv"
else
    echo "Cannot create a virtualenv: install the python${version}-venv package and try again." >&2
    exit 1
fi
