#!/bin/sh
# Builds the local Kubernetes that tests and `npm start -- --with-kubernetes` run: kube-apiserver,
# kube-controller-manager (the Job controller lives there), kube-scheduler and kubectl from
# k8s.io/kubernetes through the Go module proxy, etcd from go.etcd.io/etcd/server/v3 at the version
# that Kubernetes release pins, and kwok (simulated nodes) from sigs.k8s.io/kwok.
# Why not Debian's etcd-server (3.4.23): the API server serves streamed watch lists only from an
# etcd that reports watch progress (3.4.31+, 3.5.13+), and kwok's client (client-go 0.36) always
# asks for them, so on 3.4.23 every kwok watch fails and falls back to relisting, seconds per Pod.
# Binaries are cached outside the repository
# (TANDEM_CACHE_DIR, default ~/.cache/tandem) under their versions, so a second run is instant.
# Cold: about 15 min on 2 cores (module downloads plus compilation); prints progress per step.
set -eu

KUBERNETES_VERSION=1.34.4      # k8s.io/kubernetes v1.34.4, staging modules v0.34.4
KWOK_VERSION=0.8.0
KUEUE_VERSION=0.17.0           # job queueing; the local cluster runs it when asked (tests of the Kueue path)
# kwok v0.8.0 needs a newer Go than Debian's; the go command fetches this toolchain from the proxy.
KWOK_GOTOOLCHAIN=go1.27.3

cache=${TANDEM_CACHE_DIR:-$HOME/.cache/tandem}/kubernetes
bin="$cache/v$KUBERNETES_VERSION-kwok$KWOK_VERSION/bin"
kueue_dir="$cache/kueue-v$KUEUE_VERSION"
say() { printf '[kubernetes] %s\n' "$*"; }
now() { date +%s; }

if [ "${1:-}" = "--print-bin" ]; then echo "$bin"; exit 0; fi
if [ "${1:-}" = "--print-kueue" ]; then echo "$kueue_dir"; exit 0; fi

mkdir -p "$bin"
t_all=$(now)

# --- Kubernetes binaries ------------------------------------------------------------------------
k8s_done="$bin/.kubernetes-$KUBERNETES_VERSION"
if [ ! -e "$k8s_done" ]; then
  t0=$(now)
  mod="$cache/build-v$KUBERNETES_VERSION"
  mkdir -p "$mod"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 (they live in its own repo); a
  # module outside that repo must replace each with its published v0.<minor>.<patch> tag.
  staging_minor=$(echo "$KUBERNETES_VERSION" | sed 's/^1\./0./')
  gomod_url="${GOPROXY_URL:-https://proxy.golang.org}/k8s.io/kubernetes/@v/v$KUBERNETES_VERSION.mod"
  say "resolving k8s.io/kubernetes v$KUBERNETES_VERSION's staging modules…"
  staging=$(curl -fsSL "$gomod_url" | sed -n 's/^[[:space:]]*\(k8s\.io\/[a-z0-9-]*\) v0\.0\.0$/\1/p')
  [ -n "$staging" ] || { say "error: could not read $gomod_url" >&2; exit 1; }
  {
    echo "module tandem.local/kubernetes-build"
    echo
    echo "go 1.24.0"
    echo
    echo "require k8s.io/kubernetes v$KUBERNETES_VERSION"
    echo
    for m in $staging; do echo "replace $m => $m v$staging_minor"; done
  } > "$mod/go.mod"
  cat > "$mod/tools.go" <<'GO'
//go:build tools

// Package tools pins the Kubernetes commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "go.etcd.io/etcd/server/v3"
)
GO
  say "downloading modules (cold: a few minutes)…"
  (cd "$mod" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod tidy)
  say "compiling kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (cold: ~10 min on 2 cores)…"
  (cd "$mod" && GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=v$KUBERNETES_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 \
      -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2) \
      -X k8s.io/client-go/pkg/version.gitVersion=v$KUBERNETES_VERSION" \
      -o "$bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  touch "$k8s_done"
  say "Kubernetes v$KUBERNETES_VERSION built in $(( $(now) - t0 )) s"
fi

# --- etcd: the version k8s.io/kubernetes requires, from the same module graph -------------------
if [ ! -x "$bin/etcd" ]; then
  t0=$(now)
  mod="$cache/build-v$KUBERNETES_VERSION"
  etcd_version=$(cd "$mod" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
  say "compiling etcd $etcd_version (cold: ~1 min)…"
  (cd "$mod" && GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
  say "etcd $etcd_version built in $(( $(now) - t0 )) s"
fi

# --- kwok -------------------------------------------------------------------------------------
if [ ! -x "$bin/kwok" ]; then
  t0=$(now)
  say "building kwok v$KWOK_VERSION (fetches Go toolchain $KWOK_GOTOOLCHAIN the first time)…"
  GOBIN="$bin" GOTOOLCHAIN=$KWOK_GOTOOLCHAIN CGO_ENABLED=0 go install -trimpath "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  say "kwok built in $(( $(now) - t0 )) s"
fi

# --- Kueue: the manager binary and its CRDs (from the same module) -----------------------------
if [ ! -x "$kueue_dir/bin/kueue" ] || [ ! -d "$kueue_dir/crds" ]; then
  t0=$(now)
  say "building Kueue v$KUEUE_VERSION (cold: ~5 min on 2 cores)…"
  mkdir -p "$kueue_dir/bin"
  GOBIN="$kueue_dir/bin" GOTOOLCHAIN=local CGO_ENABLED=0 go install -trimpath "sigs.k8s.io/kueue/cmd/kueue@v$KUEUE_VERSION"
  src=$(GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "sigs.k8s.io/kueue@v$KUEUE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$kueue_dir/crds.tmp" && mkdir -p "$kueue_dir/crds.tmp"
  cp "$src"/config/components/crd/bases/*.yaml "$kueue_dir/crds.tmp/"
  rm -rf "$kueue_dir/crds" && mv "$kueue_dir/crds.tmp" "$kueue_dir/crds"
  say "Kueue built in $(( $(now) - t0 )) s"
fi

say "binaries ready in $bin ($(( $(now) - t_all )) s)"
