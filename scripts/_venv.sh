# Sourced by the scripts: a project virtualenv in .venv with the pinned requirements installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
REQ="${1:-requirements.txt}"
STAMP=".venv/.installed-$(sha256sum "$REQ" requirements.txt | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$REQ"
  touch "$STAMP"
fi
