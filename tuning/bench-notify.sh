#!/bin/bash
# Keyspace notifications: SET throughput with `notify-keyspace-events KEA`,
# without a subscriber and with one pattern subscriber to every event
# (`PSUBSCRIBE __key*__:*`, read by a Python socket reader that counts the
# messages, so the subscriber is never the bottleneck), redis-server vs
# sluice-server in alternating rounds (README "Keyspace notifications").
#
# Usage: tuning/bench-notify.sh [ROUNDS] [THREADS]
set -euo pipefail
ROUNDS=${1:-3}
THREADS=${2:-$(nproc)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=$ROOT/target/release/sluice-server
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SUB=$(mktemp --suffix=.py)
trap 'rm -f "$SUB"; pkill -f -- "--port $PORT" || true' EXIT
cat > "$SUB" <<'EOF'
import signal, socket, sys
done = False
def stop(*_):
    global done
    done = True
signal.signal(signal.SIGTERM, stop)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.2)
s.sendall(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$10\r\n__key*__:*\r\n")
want = int(sys.argv[2])
n = 0
tail = b""  # 7 bytes: a "pmessage" split across two reads is counted once
while not done and n < want:
    try:
        b = s.recv(1 << 20)
    except socket.timeout:
        continue
    if not b:
        break
    b = tail + b
    n += b.count(b"pmessage")
    tail = b[-7:]
print(n, flush=True)
EOF
echo "machine: $(nproc) cores, $(uname -r), $(redis-server --version | cut -d' ' -f3), sluice $(git -C "$ROOT" rev-parse --short HEAD), server-threads $THREADS"
echo "round,server,subscriber,SET/s,p50 ms,p99 ms,messages received"
for round in $(seq "$ROUNDS"); do
  for kind in redis sluice; do
    for sub in none pattern; do
      if [ "$kind" = redis ]; then
        redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
          --notify-keyspace-events KEA >/dev/null 2>&1 &
      else
        "$SLUICE" --port "$PORT" --bind 127.0.0.1 --save "" --server-threads "$THREADS" \
          --notify-keyspace-events KEA >/dev/null 2>&1 &
      fi
      server=$!
      until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done
      reader=""
      if [ "$sub" = pattern ]; then
        # Two events per SET (K and E), 500000 SETs.
        python3 "$SUB" "$PORT" 1000000 > "$SUB.out" &
        reader=$!
        until [ "$(redis-cli -p "$PORT" pubsub numpat)" = 1 ]; do sleep 0.05; done
      fi
      row=$(redis-benchmark -p "$PORT" -t set -n 500000 -P 16 -c 50 -r 1000000 -d 100 --csv \
        | tail -1 | tr -d '"' | cut -d, -f2,5,7)
      got=-
      if [ -n "$reader" ]; then
        # Bounded: a reader still short of the count after 30 s is stopped.
        for _ in $(seq 300); do kill -0 "$reader" 2>/dev/null || break; sleep 0.1; done
        kill "$reader" 2>/dev/null || true
        wait "$reader" || true
        got=$(cat "$SUB.out")
      fi
      echo "$round,$kind,$sub,$row,$got"
      kill "$server"; wait "$server" 2>/dev/null || true
    done
  done
done
rm -f "$SUB.out"
