#!/usr/bin/env bash
# Finds a redis-server >= 6.2 and prints the path of something that runs it.
#
# Looks, in order, at $REDIS_SERVER_BIN, the git-ignored .tools/ folder and PATH. When none
# is recent enough it installs this Debian release's `redis-server` package into .tools/
# with the machine's own apt sources: `apt-get download` of the package and of the
# libraries it needs that the machine lacks, `dpkg -x`, and a small launcher that points
# the dynamic linker at them. Only the Socket.IO comparison (`npm run bench -- throughput` and `recovery`) needs it.
set -euo pipefail

MIN_MAJOR=6
MIN_MINOR=2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
DEST="$TOOLS/redis-server"
LOCAL_BIN="$DEST/redis-server"
# Debian splits the binary (redis-tools) from the server package; these are their libraries.
PACKAGES=(redis-server redis-tools libjemalloc2 liblzf1)
QUIET=0

usage() {
  cat <<TXT
Usage: scripts/redis-server.sh [--quiet] [--help]

Prints the path of a redis-server >= $MIN_MAJOR.$MIN_MINOR, installing this Debian release's
package into .tools/ when neither \$REDIS_SERVER_BIN, .tools/ nor PATH has one.
  --quiet   print only the path (progress goes to stderr either way)
TXT
}

for arg in "$@"; do
  case "$arg" in
    --quiet) QUIET=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "redis-server.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { [ "$QUIET" = 1 ] || echo "redis-server.sh: $*" >&2; }

# Prints "MAJOR MINOR" of the binary in $1 ("Redis server v=7.0.15 sha=…"), or nothing.
version_of() {
  "$1" --version 2>/dev/null | sed -n 's/.*v=\([0-9]\+\)\.\([0-9]\+\)\..*/\1 \2/p' | head -n 1
}

recent_enough() {
  local v major minor
  [ -x "$1" ] || return 1
  v="$(version_of "$1")"
  [ -n "$v" ] || return 1
  read -r major minor <<<"$v"
  [ "$major" -gt "$MIN_MAJOR" ] || { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -ge "$MIN_MINOR" ]; }
}

found() { [ "$QUIET" = 1 ] || say "using $1 ($("$1" --version))"; echo "$1"; exit 0; }

[ -n "${REDIS_SERVER_BIN:-}" ] && recent_enough "$REDIS_SERVER_BIN" && found "$REDIS_SERVER_BIN"
recent_enough "$LOCAL_BIN" && found "$LOCAL_BIN"
on_path="$(command -v redis-server || true)"
[ -n "$on_path" ] && recent_enough "$on_path" && found "$on_path"

command -v apt-get >/dev/null || { echo "redis-server.sh: no redis-server >= $MIN_MAJOR.$MIN_MINOR found and no apt-get to install one; set REDIS_SERVER_BIN" >&2; exit 1; }

# A machine whose package lists were never fetched (a fresh container) knows no packages.
if ! apt-cache show redis-server >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "redis-server.sh: apt knows no redis-server package; run 'apt-get update' as root first" >&2; exit 1; }
  say "fetching the apt package lists (apt-get update)"
  apt-get -qq update >&2
fi

say "installing redis-server from this machine's apt sources into .tools/"
work="$TOOLS/redis-apt"
rm -rf "$work" "$DEST"
mkdir -p "$work" "$DEST"
(cd "$work" && apt-get -o "APT::Sandbox::User=root" -qq download "${PACKAGES[@]}" >&2)
for deb in "$work"/*.deb; do dpkg -x "$deb" "$DEST/root"; done
rm -rf "$work"

real="$DEST/root/usr/bin/redis-server"
[ -e "$real" ] || { echo "redis-server.sh: the downloaded packages hold no usr/bin/redis-server" >&2; exit 1; }
# exec keeps the process id, so signals sent to the launcher reach redis-server itself.
cat >"$LOCAL_BIN" <<'SH'
#!/bin/sh
here="$(cd "$(dirname "$0")" && pwd)"
LD_LIBRARY_PATH="$(echo "$here"/root/usr/lib/*-linux-gnu)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/root/usr/bin/redis-server" "$@"
SH
chmod +x "$LOCAL_BIN"

recent_enough "$LOCAL_BIN" || { echo "redis-server.sh: installed $LOCAL_BIN is not >= $MIN_MAJOR.$MIN_MINOR ($("$LOCAL_BIN" --version 2>&1 || true))" >&2; exit 1; }
say "installed $("$LOCAL_BIN" --version) at .tools/redis-server"
echo "$LOCAL_BIN"
