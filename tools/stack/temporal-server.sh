#!/usr/bin/env bash
# Opt-in (TEMPORAL_PERSISTENCE=postgres): builds the pinned Temporal server, temporal-sql-tool and
# Web UI server from the Go module proxy into the shared cache (the SQL schema is embedded in the tool).
# Idempotent: a second run checks and exits at once. Neither npm start nor npm test runs it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=versions.env
source "$root/tools/stack/versions.env"
cache="${SAGA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/saga-orchestrator}"
server_dir="$cache/temporal-server-$TEMPORAL_SERVER_VERSION"
ui_dir="$cache/temporal-ui-server-$TEMPORAL_UI_VERSION"
log="$cache/temporal-server-build.log"
mkdir -p "$cache"
: >"$log"

fail() { echo "error: $*" >&2; exit 1; }
note() { [ -n "${QUIET:-}" ] || echo "temporal-server: $*"; }
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || fail "no Go toolchain; install Go 1.23+ (https://go.dev/dl) or put it on PATH"

# go install <pkg>@<version> into $1/bin, renamed to $2 (go names binaries after their folder).
build() {
  local dir=$1 name=$2 pkg=$3 tmp
  tmp=$(mktemp -d "$dir.XXXX")
  GOBIN="$tmp" nice -n 19 "$go" install "$pkg" >>"$log" 2>&1 \
    || { rm -rf "$tmp"; fail "go install $pkg failed; the Go module proxy must be reachable (see $log)"; }
  mkdir -p "$dir/bin"
  mv "$tmp/$(basename "${pkg%@*}")" "$dir/bin/$name"
  rm -rf "$tmp"
}

if [ ! -f "$server_dir/.complete" ]; then
  note "building temporal-server and temporal-sql-tool v$TEMPORAL_SERVER_VERSION from the Go module proxy (a few minutes)"
  mkdir -p "$server_dir"
  build "$server_dir" temporal-server "go.temporal.io/server/cmd/server@v$TEMPORAL_SERVER_VERSION"
  build "$server_dir" temporal-sql-tool "go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_SERVER_VERSION"
  touch "$server_dir/.complete"
fi

if [ ! -f "$ui_dir/.complete" ]; then
  note "building the Temporal Web UI server v$TEMPORAL_UI_VERSION from the Go module proxy"
  # Its go.mod has a replace directive, which go install @version refuses: build it as the main module.
  src=$("$go" mod download -json "github.com/temporalio/ui-server/v2@v$TEMPORAL_UI_VERSION" 2>>"$log" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || fail "the Go module proxy did not serve ui-server v$TEMPORAL_UI_VERSION (see $log)"
  tmp=$(mktemp -d "$ui_dir.XXXX")
  cp -r "$src/." "$tmp" && chmod -R u+w "$tmp"
  mkdir -p "$ui_dir/bin"
  (cd "$tmp" && nice -n 19 "$go" build -o "$ui_dir/bin/temporal-ui-server" ./cmd/server) >>"$log" 2>&1 \
    || { rm -rf "$tmp"; fail "building ui-server v$TEMPORAL_UI_VERSION failed (see $log)"; }
  rm -rf "$tmp"
  touch "$ui_dir/.complete"
fi
note "ready ($server_dir, $ui_dir)"
