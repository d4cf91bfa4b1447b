# Shared install steps for scripts/test and scripts/start-local; sourced, not run.

ensure_python_env() {
  local requirements="$1"
  local python="${PYTHON:-python3}"
  local max_minor="${PYTHON_MAX_MINOR:-99}"
  if ! "$python" -c "import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, $max_minor))"; then
    echo "Python 3.10 to 3.$max_minor is needed (found $("$python" --version 2>&1)); set PYTHON to another interpreter." >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  # Reinstall only when the requirements changed since the last install.
  local stamp=".venv/.installed-$(basename "$requirements")"
  local digest
  digest="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$digest" > "$stamp"
  fi
}

ensure_node_modules() {
  if ! command -v npm >/dev/null 2>&1; then
    echo "Node.js with npm is needed for Azurite (the local storage emulator)." >&2
    exit 1
  fi
  if [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  fi
}
