#!/usr/bin/env bash
# Builds the Helm CLI from its Go module into a cache outside the repo, keyed by version, so the
# second run costs nothing. Prints the path of the helm binary.
#
# The build happens in a throwaway wrapper module (never in this repo): `go get` pins Helm and
# its dependencies exactly as Helm's own go.mod asks, then `go build` compiles cmd/helm.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-4.3.2}"
HELM_MAJOR="${HELM_VERSION%%.*}"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/connect-sso-operator"
dir="$cache_root/helm-v$HELM_VERSION"
bin="$dir/bin/helm"

log() { printf 'install-helm: %s\n' "$*" >&2; }

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { log "go is required to build helm"; exit 1; }

# Test binaries run in parallel: one builds, the others wait and reuse its result.
mkdir -p "$dir/bin"
exec 9>"$dir/.lock"
flock 9
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

log "building helm v$HELM_VERSION from helm.sh/helm/v$HELM_MAJOR (first run only; a few minutes)"
module="helm.sh/helm/v$HELM_MAJOR"
work="$dir/build"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0
go mod init local/helm-build >/dev/null 2>&1
go get "$module@v$HELM_VERSION" >&2
# Helm reports the version set here; without it `helm version` shows a bare v4.3 from the source.
ldflags="-s -w -X $module/internal/version.version=v$HELM_VERSION"
go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" "$module/cmd/helm"
mv "$bin.tmp" "$bin"
rm -rf "$work"
echo "$bin"
