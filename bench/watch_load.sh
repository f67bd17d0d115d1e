#!/usr/bin/env bash
# Requests per second of a server under mnemo-bench with no watcher, with a `watch fetchers
# mutations` connection that never reads (a stalled watcher), and with one that reads everything,
# alternating the three for ROUNDS rounds; after each run, the server's log_* statistics
# (cumulative since its start). The stalled watcher must cost no more than the reading one: what
# a watcher costs is the logging, never its reading.
#
#   bench/watch_load.sh [SERVER_BINARY [ROUNDS [SECONDS]]]   (default: build/mnemod 3 5)
#
# Needs build/mnemo-bench (cmake --build build --target mnemo-bench) and Debian's python3.
set -euo pipefail
cd "$(dirname "$0")/.."
server=${1:-build/mnemod}
rounds=${2:-3}
seconds=${3:-5}
bench=build/mnemo-bench
python=/usr/bin/python3
port=$($python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
user=()
[ "$(id -u)" = 0 ] && user=(-u root)
"$server" -l 127.0.0.1 -p "$port" -U 0 "${user[@]}" -t 2 -m 256 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
sleep 0.5
load=(--server "127.0.0.1:$port" --threads 2 --connections 10 --pipeline 8 --json)
"$bench" "${load[@]}" --duration 2 --preload >/dev/null 2>&1

stalled='import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"watch fetchers mutations\r\n")
time.sleep(3600)'
reading='import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"watch fetchers mutations\r\n")
while s.recv(1 << 20):
    pass'
stats='import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"stats\r\n")
d = b""
while not d.endswith(b"END\r\n"):
    d += s.recv(65536)
print(" ".join(l.split()[1] + "=" + l.split()[2] for l in d.decode().splitlines()
               if l.startswith("STAT log_")))'
summary='import json, sys
d = json.load(sys.stdin)
print("req/s=%.0f p50_us=%.0f p99_us=%.0f errors=%d unanswered=%d" % (
    d["throughput"], d["latency_us"]["p50"], d["latency_us"]["p99"], d["errors"],
    d["unanswered"]))'

for round in $(seq "$rounds"); do
  for mode in none stalled reading; do
    watcher=""
    case $mode in
      stalled) $python -c "$stalled" "$port" & watcher=$! ;;
      reading) $python -c "$reading" "$port" & watcher=$! ;;
    esac
    sleep 0.3
    result=$("$bench" "${load[@]}" --duration "$seconds" 2>/dev/null | $python -c "$summary")
    echo "round $round $mode $result $($python -c "$stats" "$port")"
    if [ -n "$watcher" ]; then kill "$watcher"; wait "$watcher" 2>/dev/null || true; fi
    sleep 0.3
  done
done
