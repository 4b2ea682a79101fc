#!/usr/bin/env bash
# `npm run bench` on two Node.js runtimes in one run, module by module and alternating which
# runtime goes first, so a shared machine's drift falls on both alike. One JSON line per
# record on stdout (each carries `node`), progress on stderr.
#
#   bash bench/node-versions.sh /usr/bin/node "$(bash scripts/node.sh bin 24)/node" > nodes.jsonl
#   (optional: MODULES="stats window" to run some modules only)
set -euo pipefail
cd "$(dirname "$0")/.."
a="${1:?usage: node-versions.sh <node A> <node B>}"
b="${2:?usage: node-versions.sh <node A> <node B>}"
modules="${MODULES:-stats window baseline http kafka}"
tsx="node_modules/tsx/dist/cli.mjs"
i=0
for m in $modules; do
  if (( i % 2 == 0 )); then order=("$a" "$b"); else order=("$b" "$a"); fi
  for node in "${order[@]}"; do
    printf '[node-versions] %s on %s\n' "$m" "$("$node" --version)" >&2
    "$node" "$tsx" bench/run.ts "$m"
  done
  i=$((i + 1))
done
