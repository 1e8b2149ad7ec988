#!/usr/bin/env bash
# A long-running server on the shim under load, from the repository root after
# the default build in ./build: redis-server runs with libzoneshim.so preloaded
# (through build/shim/zone-run, with --stats) on a loopback port, a bounded
# redis-benchmark drives it with many clients, redis-cli checks data written
# before and after the load, and the server must shut down cleanly and print
# the zone's summary (proof it ran on the shim). Takes about 30 s.
set -euo pipefail
zone_run=build/shim/zone-run
[ -x "$zone_run" ] || { echo "no $zone_run: build first" >&2; exit 1; }
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# A free loopback port: nothing may answer there before we start.
for _ in $(seq 1 20); do
  port=$((20000 + RANDOM % 20000))
  redis-cli -p "$port" ping >/dev/null 2>&1 || break
done
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }

"$zone_run" --stats -- redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$tmp" --daemonize no --protected-mode yes >"$tmp/server.log" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 1 100); do
  [ "$(cli ping 2>/dev/null)" = PONG ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" "$tmp/server.err"; exit 1; }
  sleep 0.1
done
[ "$(cli ping)" = PONG ] || { echo "redis-server did not come up" >&2; exit 1; }

# Data that must survive the load untouched.
for i in $(seq 1 200); do echo "SET keep:$i value-$i-$(printf '%*s' $((i * 7)) '' | tr ' ' x)"; done | cli >/dev/null
cli RPUSH keep:list $(seq 1 500) >/dev/null

redis-benchmark -h 127.0.0.1 -p "$port" --csv -c 50 -n 10000 -r 10000 -d 256 \
  -t set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100,mset >"$tmp/bench.csv"
# Large values too: many blocks of a few KiB freed and reused.
redis-benchmark -h 127.0.0.1 -p "$port" --csv -c 20 -n 4000 -r 2000 -d 8000 -t set,get |
  sed 1d >>"$tmp/bench.csv"
cut -d, -f1,2 "$tmp/bench.csv"
tests=$(grep -c '^"[A-Z]' "$tmp/bench.csv")
[ "$tests" -ge 15 ] || { echo "redis-benchmark finished only $tests tests" >&2; exit 1; }

[ "$(cli ping)" = PONG ] || { echo "redis-server died under load" >&2; exit 1; }
for i in 1 77 200; do
  want="value-$i-$(printf '%*s' $((i * 7)) '' | tr ' ' x)"
  [ "$(cli GET "keep:$i")" = "$want" ] || { echo "keep:$i changed under load" >&2; exit 1; }
done
[ "$(cli LRANGE keep:list 0 -1 | md5sum)" = "$(seq 1 500 | md5sum)" ] || { echo "keep:list changed" >&2; exit 1; }
cli DBSIZE
cli FLUSHALL >/dev/null
cli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" -eq 0 ] || { echo "redis-server exited with status $status" >&2; cat "$tmp/server.err"; exit 1; }
grep '^zone stats: ' "$tmp/server.err" || { echo "no zone summary: was the shim loaded?" >&2; exit 1; }
echo "redis-server on the shim: ok"
