#!/usr/bin/env bash
# Builds kube-apiserver and etcd from their Go modules into a cache outside the repo,
# keyed by version, so the second run costs nothing. Prints the asset directory.
#
# k8s.io/kubernetes names its staging modules at v0.0.0 and replaces them with
# ./staging paths, which Go ignores in a dependency; so a throwaway wrapper module
# pins every staging module (read from that exact go.mod) to the matching v0.x release.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
STAGING_VERSION="0.${K8S_VERSION#1.}"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/connect-sso-operator"
assets="${KUBEBUILDER_ASSETS:-$cache_root/envtest/k8s-$K8S_VERSION-etcd-$ETCD_VERSION}"

log() { printf 'envtest: %s\n' "$*" >&2; }

if [ -x "$assets/kube-apiserver" ] && [ -x "$assets/etcd" ]; then
  echo "$assets"
  exit 0
fi
if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ ! -w "$(dirname "$KUBEBUILDER_ASSETS")" ]; then
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no binaries and cannot be written"
  exit 1
fi
command -v go >/dev/null || { log "go is required to build kube-apiserver and etcd"; exit 1; }
command -v jq >/dev/null || { log "jq is required (apt-get install jq)"; exit 1; }

mkdir -p "$assets"
work="$cache_root/envtest/build"
mkdir -p "$work"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0

if [ ! -x "$assets/etcd" ]; then
  log "building etcd v$ETCD_VERSION (first run only)"
  rm -rf "$work/etcd" && mkdir -p "$work/etcd" && cd "$work/etcd"
  go mod init local/etcd-build >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2
  go build -trimpath -o "$assets/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$assets/etcd.tmp" "$assets/etcd"
fi

if [ ! -x "$assets/kube-apiserver" ]; then
  log "building kube-apiserver v$K8S_VERSION (first run only; several minutes)"
  rm -rf "$work/kas" && mkdir -p "$work/kas" && cd "$work/kas"
  go mod init local/kas-build >/dev/null 2>&1
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | jq -r .GoMod)
  go mod edit -json "$gomod" \
    | jq -r '.Replace[] | select(.New.Path | startswith("./staging/")) | .Old.Path' > staging.txt
  [ -s staging.txt ] || { log "no staging modules found in $gomod"; exit 1; }
  while read -r m; do go mod edit -replace="$m=$m@v$STAGING_VERSION"; done < staging.txt
  go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
  go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" >&2
  ldflags="-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION"
  ldflags="$ldflags -X k8s.io/component-base/version.gitMajor=1"
  ldflags="$ldflags -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
  go build -trimpath -ldflags "$ldflags" -o "$assets/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$assets/kube-apiserver.tmp" "$assets/kube-apiserver"
fi

echo "$assets"
