#!/bin/sh
# make demo: run the demo job on the embedded LSF test double (needs root).
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it starts the LSF test double)" >&2; exit 1; }
exec /usr/bin/python3 scripts/demo.py
