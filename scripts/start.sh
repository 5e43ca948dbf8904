#!/usr/bin/env bash
# `npm start`: runs Herald from dist/herald.js, first rebuilding it (scripts/build.ts) when
# it is missing or older than a file listed in dist/herald.inputs (what it was built from).
#
# The last step is an `exec`: the process npm started becomes Herald's node process, so the
# SIGTERM or SIGINT npm forwards to its script reaches Herald itself, which shuts down
# gracefully and stops a nats-server it started. A shell left in between would die of the
# signal and orphan Herald.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
  cat <<TXT
Usage: scripts/start.sh [--build] [--help]

Runs Herald (node dist/herald.js), rebuilding the bundle first if a source changed.
  --build   only rebuild the bundle if a source changed, then exit
TXT
}

BUILD_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --build) BUILD_ONLY=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "start.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

stale() {
  [ -f dist/herald.js ] && [ -f dist/herald.inputs ] || return 0
  local file
  while IFS= read -r file; do
    [ -e "$file" ] && [ ! "$file" -nt dist/herald.js ] || return 0
  done <dist/herald.inputs
  return 1
}

if stale; then node --import tsx scripts/build.ts; fi
[ "$BUILD_ONLY" = 1 ] && exit 0
exec node dist/herald.js
