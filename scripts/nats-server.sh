#!/usr/bin/env bash
# Finds a nats-server >= 2.12 and prints its path. 2.12 is the oldest Herald runs on: the
# projections commit each checkpoint with its state as one atomic batch (infra/ProjectionStore.ts).
#
# Looks, in order, at $NATS_SERVER_BIN, the git-ignored .tools/ folder and PATH. When none
# is recent enough it installs Debian testing's `nats-server` package into .tools/: a
# private apt sources list for `forky` (the mirror is taken from this machine's own apt
# configuration), `apt-get download`, `dpkg -x`, then a version check.
set -euo pipefail

MIN_MAJOR=2
MIN_MINOR=12
SUITE=forky
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
LOCAL_BIN="$TOOLS/nats-server/usr/sbin/nats-server"
QUIET=0

usage() {
  cat <<TXT
Usage: scripts/nats-server.sh [--quiet] [--help]

Prints the path of a nats-server >= $MIN_MAJOR.$MIN_MINOR, installing Debian $SUITE's
package into .tools/ when neither \$NATS_SERVER_BIN, .tools/ nor PATH has one.
  --quiet   print only the path (progress goes to stderr either way)
TXT
}

for arg in "$@"; do
  case "$arg" in
    --quiet) QUIET=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "nats-server.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

say() { [ "$QUIET" = 1 ] || echo "nats-server.sh: $*" >&2; }

# Prints "MAJOR MINOR" of the binary in $1, or nothing.
version_of() {
  "$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]\+\)\.\([0-9]\+\)\..*/\1 \2/p' | head -n 1
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

[ -n "${NATS_SERVER_BIN:-}" ] && recent_enough "$NATS_SERVER_BIN" && found "$NATS_SERVER_BIN"
recent_enough "$LOCAL_BIN" && found "$LOCAL_BIN"
on_path="$(command -v nats-server || true)"
[ -n "$on_path" ] && recent_enough "$on_path" && found "$on_path"

command -v apt-get >/dev/null || { echo "nats-server.sh: no nats-server >= $MIN_MAJOR.$MIN_MINOR found and no apt-get to install one; set NATS_SERVER_BIN" >&2; exit 1; }

# The Debian mirror this machine already uses, read from its apt configuration.
mirror="$(apt-cache policy 2>/dev/null | awk '$2 ~ /^https?:\/\// && $3 ~ /\/main$/ && $2 !~ /security/ { print $2; exit }')"
if [ -z "$mirror" ]; then
  # No package lists yet (a fresh machine): read the active source files for a Debian archive.
  mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -oE '^(URIs:|deb( \[[^]]*\])?) +https?://[^ ]+' | awk '{ print $NF }' \
    | grep -E '/debian/?$' | grep -v security | head -n 1 || true)"
fi
[ -n "$mirror" ] || { echo "nats-server.sh: cannot find a Debian mirror in this machine's apt configuration" >&2; exit 1; }

say "installing nats-server from Debian $SUITE into .tools/ (mirror from apt configuration)"
work="$TOOLS/apt"
rm -rf "$work" "$TOOLS/nats-server"
mkdir -p "$work/etc/sources.list.d" "$work/etc/preferences.d" "$work/lists/partial" "$work/cache/archives/partial" "$work/deb"
: >"$work/etc/sources.list"
cat >"$work/etc/sources.list.d/$SUITE.sources" <<SRC
Types: deb
URIs: $mirror
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt_opts=(
  -o "Dir::Etc::SourceList=$work/etc/sources.list"
  -o "Dir::Etc::SourceParts=$work/etc/sources.list.d"
  -o "Dir::Etc::Preferences=$work/etc/preferences"
  -o "Dir::Etc::PreferencesParts=$work/etc/preferences.d"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "APT::Sandbox::User=root"
)
apt-get "${apt_opts[@]}" -qq update >&2
(cd "$work/deb" && apt-get "${apt_opts[@]}" -qq download nats-server >&2)
deb="$(ls "$work"/deb/nats-server_*.deb 2>/dev/null | head -n 1)"
[ -n "$deb" ] || { echo "nats-server.sh: apt-get download produced no nats-server package" >&2; exit 1; }
dpkg -x "$deb" "$TOOLS/nats-server"
rm -rf "$work"

recent_enough "$LOCAL_BIN" || { echo "nats-server.sh: installed $LOCAL_BIN is not >= $MIN_MAJOR.$MIN_MINOR ($("$LOCAL_BIN" --version 2>&1 || true))" >&2; exit 1; }
say "installed $("$LOCAL_BIN" --version) at .tools/nats-server"
echo "$LOCAL_BIN"
