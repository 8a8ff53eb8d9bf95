#!/bin/sh
# demo.sh -- the CLOSE_WAIT story in one command (after `make`):
# start db_server, run leaky_client under sockleak, stop the server.
#   sh examples/demo.sh [COUNT]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/examples
lib=$root/build/libsockleak.so
count=${1:-5}

for f in "$bin/db_server" "$bin/leaky_client" "$lib"; do
    [ -e "$f" ] || { echo "demo.sh: $f is missing; run make first" >&2; exit 1; }
done

portfile=$(mktemp)
"$bin/db_server" 0 >"$portfile" &
server=$!
stop_server() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$portfile"; }
trap stop_server EXIT
trap 'exit 130' INT TERM

# db_server prints its ephemeral port as its first line.
tries=0
until [ -s "$portfile" ]; do
    tries=$((tries + 1))
    [ "$tries" -le 100 ] || { echo "demo.sh: db_server did not start" >&2; exit 1; }
    sleep 0.05
done
port=$(head -n 1 "$portfile")

# leaky_client exits 200 ms after its last leak: with the default grace_ms
# (30 s) those CLOSE_WAITs would only count as "closing" at exit.
echo "\$ SOCKLEAK_OPTIONS=grace_ms=100 LD_PRELOAD=build/libsockleak.so build/examples/leaky_client $port $count"
SOCKLEAK_OPTIONS=grace_ms=100 LD_PRELOAD=$lib "$bin/leaky_client" "$port" "$count"
echo
echo "\$ LD_PRELOAD=build/libsockleak.so build/examples/fixed_client $port $count"
LD_PRELOAD=$lib "$bin/fixed_client" "$port" "$count"
echo "(no report: fixed_client closes on the error path;"
echo " diff examples/leaky_client.c examples/fixed_client.c)"
