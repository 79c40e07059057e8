#!/usr/bin/env bash
# Measures the quick start: a cold first start (fresh clone, empty npm/pip/Maven/toolchain caches)
# and a warm start (same clone, second time). Prints seconds until the stack reports it is up.
# Usage: bash tools/bench/startup.sh   (needs the default ports free)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/startup-bench.XXXX)
chmod 755 "$work" # PostgreSQL runs as the postgres user and must reach its data folder
git clone -q "$src" "$work/repo"
cd "$work/repo"
export SAGA_CACHE_DIR="$work/cache" PIP_NO_CACHE_DIR=1 MAVEN_OPTS="-Dmaven.repo.local=$work/m2"
export npm_config_cache="$work/npm-cache"

run_until_up() {
  local log=$1 t0 pid
  t0=$(date +%s.%N)
  (npm install --no-audit --no-fund --no-save >/dev/null 2>&1 && npm start) >"$log" 2>&1 &
  pid=$!
  until grep -q 'is up' "$log"; do
    kill -0 "$pid" 2>/dev/null || { echo "start failed:"; tail -5 "$log"; exit 1; }
    sleep 0.2
  done
  echo "$(date +%s.%N) - $t0" | bc
  stop0=$(date +%s.%N)
  pkill -TERM -f "tools/stack/start.ts" || true  # what Ctrl-C does to the stack process
  wait "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do ports_bound || stack_processes || break; sleep 0.1; done
  echo "$(date +%s.%N) - $stop0" | bc >"$log.stop"
}

ports_bound() { ss -ltn | grep -qE ':(3000|7233|8233|9092|9093|5432) '; }
stack_processes() { ps -eo args | grep -F "$work/repo/" | grep -qv grep; }

cold=$(run_until_up "$work/cold.log")
warm=$(run_until_up "$work/warm.log")
printf 'cold start (install + servers): %.1f s\nwarm start:                     %.1f s\n' "$cold" "$warm"
printf 'stack-reported server start (warm): %s\n' "$(grep -o 'is up ([0-9.]*s)' "$work/warm.log")"
printf 'stop after SIGTERM until every port is free and every process gone: %.1f s (cold run), %.1f s (warm run)\n' "$(cat "$work/cold.log.stop")" "$(cat "$work/warm.log.stop")"
left=$(ss -ltn | grep -cE ':(3000|7233|8233|9092|9093|5432) ' || true)
echo "ports still bound at the end: $left"
left_procs=$(ps -eo pid,args | grep -F "$work/repo/.stack" | grep -v grep || true)
echo "processes left: ${left_procs:-none}"
rm -rf "$work"
