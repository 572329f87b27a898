#!/usr/bin/env bash
# Makes sure a Lua 5.1 interpreter is on the machine (Argo CD runs health checks in gopher-lua,
# which implements Lua 5.1) and prints its path. Installs Debian's lua5.1 package when missing.
set -euo pipefail

log() { printf 'install-lua: %s\n' "$*" >&2; }

if bin="$(command -v lua5.1)"; then
  echo "$bin"
  exit 0
fi
command -v apt-get >/dev/null || { log "lua5.1 is missing and there is no apt-get; install Lua 5.1 by hand"; exit 1; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
log "installing lua5.1 from Debian (first run only)"
if ! $sudo apt-get install -y --no-install-recommends lua5.1 >&2; then
  # A fresh machine has no package lists yet.
  $sudo apt-get update >&2
  $sudo apt-get install -y --no-install-recommends lua5.1 >&2
fi
command -v lua5.1
