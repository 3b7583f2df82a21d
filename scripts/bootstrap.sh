#!/bin/sh
# Set up gpudoctor in ./.venv on a fresh Debian or Ubuntu machine.
#   sh scripts/bootstrap.sh          the tool itself
#   sh scripts/bootstrap.sh --test   also the Debian packages and Python packages the tests need
# Debian packages are installed with apt-get (through sudo when not root); Python packages with
# pip into .venv only, so nothing system-wide changes beyond the apt packages named below.
set -eu
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "bootstrap: installing python3-venv" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip
fi

if [ "${1:-}" = "--test" ]; then
    as_root bash .ci/install-deps.sh
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "${1:-}" = "--test" ]; then
    .venv/bin/python -m pip install -q -e '.[test]'
else
    .venv/bin/python -m pip install -q .
fi
