# Shared install steps for scripts/test, scripts/start-local and scripts/bench; sourced, not run.

# The oldest and newest Python the app supports and CI tests: the Functions host's Python worker runs
# 3.11 to 3.13 with Core Tools 4. pyproject.toml's requires-python says the same lower bound.
MIN_PYTHON_MINOR=11
MAX_PYTHON_MINOR=13

# Test tools are pinned here, so that a new release of one cannot break scripts/test unannounced.
CONSTRAINTS=constraints.txt

# step DESCRIPTION COMMAND...: an install that can take minutes says what it does as it begins and how long it
# took when it ends, rather than printing nothing meanwhile.
step() {
  local what="$1"
  shift
  echo "$what..."
  local started=$SECONDS
  "$@"
  echo "$what: done in $((SECONDS - started)) s."
}

# "3.X.Y <prefix>" of an interpreter, or nothing when it cannot run.
python_identity() {
  "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3], sys.base_prefix)' 2>/dev/null
}

python_minor() {
  "$1" -c 'import sys; print(sys.version_info[1] if sys.version_info[0] == 3 else -1)' 2>/dev/null || echo -1
}

# Stop at once, in one line, when the interpreter asked for does not run or is outside the supported range.
require_python() {
  local python="${PYTHON:-python3}"
  local needed="Python 3.$MIN_PYTHON_MINOR to 3.$MAX_PYTHON_MINOR is needed"
  local hint="set PYTHON to an interpreter's path (with pyenv: PYTHON=\"\$(pyenv root)/versions/3.$MAX_PYTHON_MINOR.X/bin/python3\")"
  local output
  if ! output="$("$python" --version 2>&1)"; then
    # pyenv's shims explain a refused version over several lines; its first line says what happened.
    echo "$needed, and '$python' does not run ($(head -n 1 <<<"${output:-no such command}")); $hint." >&2
    exit 1
  fi
  local minor
  minor="$(python_minor "$python")"
  if [ "$minor" -lt "$MIN_PYTHON_MINOR" ] || [ "$minor" -gt "$MAX_PYTHON_MINOR" ]; then
    echo "$needed (found $output); $hint." >&2
    exit 1
  fi
}

# One environment per Python version (.venv-3.11, .venv-3.13, ...), so that switching PYTHON reuses each;
# .venv links to the one used last, for editors and tools that look for .venv. Sets VENV.
ensure_python_env() {
  local requirements="$1"
  local python="${PYTHON:-python3}"
  require_python
  VENV=".venv-3.$(python_minor "$python")"
  make_env "$VENV" "$python" "$requirements"
  if [ -d .venv ] && [ ! -L .venv ]; then
    echo "Removing .venv, the one environment of every Python that older scripts made; $VENV takes its place."
    rm -rf .venv
  fi
  ln -sfn "$VENV" .venv
}

# make_env DIR PYTHON REQUIREMENTS: a virtual environment in DIR made by PYTHON, with REQUIREMENTS
# installed under the constraints; reinstalled only when either file changed.
make_env() {
  local dir="$1" python="$2" requirements="$3"
  # An existing environment is kept only when it was made by the interpreter asked for.
  if [ -x "$dir/bin/python" ] && [ "$(python_identity "$dir/bin/python")" != "$(python_identity "$python")" ]; then
    echo "Recreating $dir with $("$python" --version 2>&1) (it was made with another Python)."
    rm -rf "$dir"
  fi
  if [ ! -x "$dir/bin/python" ]; then
    step "Creating the virtual environment $dir" "$python" -m venv "$dir"
  fi
  local inputs=(requirements*.txt) constraints=()
  if [ -f "$CONSTRAINTS" ]; then
    inputs+=("$CONSTRAINTS")
    constraints=(-c "$CONSTRAINTS")
  fi
  local stamp="$dir/.installed-$(basename "$requirements")"
  local digest
  digest="$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    step "Installing $requirements into $dir" \
      "$dir/bin/python" -m pip install --quiet --quiet --disable-pip-version-check -r "$requirements" "${constraints[@]}"
    echo "$digest" > "$stamp"
  fi
}

# Checkov and its many dependencies live in an environment of their own (.venv-infra-3.X), so that they
# cannot change the versions the app is tested with. Sets CHECKOV.
ensure_infra_env() {
  local python="${PYTHON:-python3}"
  local dir=".venv-infra-3.$(python_minor "$python")"
  make_env "$dir" "$python" requirements-infra.txt
  CHECKOV="$PWD/$dir/bin/checkov"
}

# Rewrite the constraints file with the newest release of each tool it pins that installs on this Python:
# `scripts/test --refresh-constraints`, then run scripts/test on the oldest and newest Python and commit.
# Checkov is resolved apart from the test tools, as it is installed; a package both need (pycep-parser)
# takes the release Checkov asks for.
refresh_constraints() {
  local python="${PYTHON:-python3}"
  require_python
  local tools
  tools="$(grep -vE '^\s*(#|$)' "$CONSTRAINTS" | sed -E 's/[=<>!~; ].*//')"
  local scratch
  scratch="$(mktemp -d)"
  local group
  for group in test infra; do
    "$python" -m venv "$scratch/$group"
    # shellcheck disable=SC2046 # one argument per tool
    "$scratch/$group/bin/python" -m pip install --quiet --quiet --disable-pip-version-check --upgrade \
      $(grep -xFf <(sed -E 's/[=<>!~;[ ].*//' "requirements-$group.txt") <<<"$tools")
  done
  {
    grep -E '^\s*#' "$CONSTRAINTS"
    for tool in $tools; do
      local version
      version="$("$scratch/infra/bin/python" -m pip show "$tool" 2>/dev/null | sed -n 's/^Version: //p')"
      version="${version:-$("$scratch/test/bin/python" -m pip show "$tool" | sed -n 's/^Version: //p')}"
      echo "$tool==$version"
    done
  } > "$CONSTRAINTS.new"
  mv "$CONSTRAINTS.new" "$CONSTRAINTS"
  rm -rf "$scratch"
  echo "Wrote $CONSTRAINTS:"
  grep -vE '^\s*#' "$CONSTRAINTS"
}

require_npm() {
  if ! command -v npm >/dev/null 2>&1; then
    echo "Node.js 20 or newer with npm is needed for Azurite (the local storage emulator)." >&2
    exit 1
  fi
}

npm_ci() {
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
}

ensure_node_modules() {
  require_npm
  if [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "Installing Azurite into node_modules" npm_ci
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
    step "Installing requirements-durable2.txt into .venv-durable2" \
      .venv-durable2/bin/python -m pip install --quiet --quiet --disable-pip-version-check -r requirements-durable2.txt
    echo "$digest" > "$stamp"
  fi
}
