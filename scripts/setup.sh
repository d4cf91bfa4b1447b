# Shared install steps for scripts/test, scripts/start-local and scripts/bench; sourced, not run.

# The oldest Python the app supports; pyproject.toml's requires-python says the same.
MIN_PYTHON_MINOR=11

# "3.X.Y <prefix>" of an interpreter, or nothing when it cannot run.
python_identity() {
  "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3], sys.base_prefix)' 2>/dev/null
}

python_minor() {
  "$1" -c 'import sys; print(sys.version_info[1] if sys.version_info[0] == 3 else -1)' 2>/dev/null || echo -1
}

# Stop at once when the interpreter asked for is outside the supported range.
require_python() {
  local python="${PYTHON:-python3}"
  local max_minor="${PYTHON_MAX_MINOR:-99}"
  local minor
  minor="$(python_minor "$python")"
  if [ "$minor" -lt "$MIN_PYTHON_MINOR" ] || [ "$minor" -gt "$max_minor" ]; then
    local found
    found="$("$python" --version 2>&1 || echo "no interpreter '$python'")"
    echo "Python 3.$MIN_PYTHON_MINOR to 3.$max_minor is needed (found $found); set PYTHON to another interpreter." >&2
    exit 1
  fi
}

ensure_python_env() {
  local requirements="$1"
  local python="${PYTHON:-python3}"
  require_python
  # An existing .venv is kept only when it was made by the interpreter asked for.
  if [ -x .venv/bin/python ] && [ "$(python_identity .venv/bin/python)" != "$(python_identity "$python")" ]; then
    echo "Recreating .venv with $("$python" --version 2>&1) (it was made with another Python)."
    rm -rf .venv
  fi
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  # Reinstall only when the requirements changed since the last install.
  local stamp=".venv/.installed-$(basename "$requirements")"
  local digest
  digest="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    echo "Installing $requirements into .venv..."
    .venv/bin/python -m pip install --quiet --quiet --disable-pip-version-check -r "$requirements"
    echo "$digest" > "$stamp"
  fi
}

require_npm() {
  if ! command -v npm >/dev/null 2>&1; then
    echo "Node.js 20 or newer with npm is needed for Azurite (the local storage emulator)." >&2
    exit 1
  fi
}

ensure_node_modules() {
  require_npm
  if [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "Installing Azurite into node_modules..."
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
  fi
}

# The 2.x SDK line's venv (requirements-durable2.txt), beside .venv: the two lines cannot share one.
ensure_durable2_env() {
  local python="${PYTHON:-python3}"
  if [ -x .venv-durable2/bin/python ] && [ "$(python_identity .venv-durable2/bin/python)" != "$(python_identity "$python")" ]; then
    rm -rf .venv-durable2
  fi
  [ -x .venv-durable2/bin/python ] || "$python" -m venv .venv-durable2
  local stamp=".venv-durable2/.installed"
  local digest
  digest="$(sha256sum requirements-durable2.txt | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    echo "Installing requirements-durable2.txt into .venv-durable2..."
    .venv-durable2/bin/python -m pip install --quiet --quiet --disable-pip-version-check -r requirements-durable2.txt
    echo "$digest" > "$stamp"
  fi
}
