#!/bin/sh
# Builds the Temporal server that the cluster profile runs (frontend, history, matching and worker
# services as separate processes on PostgreSQL) and its schema tool, both from go.temporal.io/server
# through the Go module proxy, and copies the PostgreSQL schema files shipped in that module.
# Binaries are cached outside the repository (TANDEM_CACHE_DIR, default ~/.cache/tandem) under their
# version, so a second run is instant. Prints progress per step and the time each took.
set -eu

TEMPORAL_VERSION=1.32.2
# v1.32.2's go.mod asks for a newer Go than Debian's; the go command fetches this toolchain from the proxy.
TEMPORAL_GOTOOLCHAIN=go1.27.3

dir=${TANDEM_CACHE_DIR:-$HOME/.cache/tandem}/temporal-server/v$TEMPORAL_VERSION
say() { printf '[temporal-server] %s\n' "$*"; }
now() { date +%s; }

if [ "${1:-}" = "--print-dir" ]; then echo "$dir"; exit 0; fi

t_all=$(now)
mkdir -p "$dir/bin"
# build <package under go.temporal.io/server> <binary name>: once, into $dir/bin.
build() {
  [ -x "$dir/bin/$2" ] && return 0
  t0=$(now)
  say "building $2 v$TEMPORAL_VERSION (fetches Go $TEMPORAL_GOTOOLCHAIN the first time; cold: several minutes on 2 cores)…"
  GOBIN="$dir/bin.tmp" GOTOOLCHAIN=$TEMPORAL_GOTOOLCHAIN CGO_ENABLED=0 \
    go install -trimpath -ldflags "-s -w" "go.temporal.io/server/$1@v$TEMPORAL_VERSION"
  mv "$dir/bin.tmp/$(basename "$1")" "$dir/bin/$2"
  say "$2 built in $(( $(now) - t0 )) s"
}
build cmd/server temporal-server
build cmd/tools/sql temporal-sql-tool
rm -rf "$dir/bin.tmp"
if [ ! -d "$dir/schema/postgresql" ]; then
  src=$(GOFLAGS=-mod=mod GOTOOLCHAIN=$TEMPORAL_GOTOOLCHAIN go mod download -json "go.temporal.io/server@v$TEMPORAL_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$dir/schema.tmp" && mkdir -p "$dir/schema.tmp"
  cp -R "$src/schema/postgresql" "$dir/schema.tmp/postgresql"
  chmod -R u+w "$dir/schema.tmp"
  rm -rf "$dir/schema" && mv "$dir/schema.tmp" "$dir/schema"
fi
say "ready in $dir ($(( $(now) - t_all )) s)"
