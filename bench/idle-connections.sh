#!/usr/bin/env bash
# What an idle kept-alive connection costs davgate: 100, 1,000 and 10,000 connections that each
# made one authenticated GET 4 KiB and then stay idle, over HTTP/1.1 and HTTP/1.1 over TLS (one
# fresh davgate per transport), with the server's VmRSS after each step. The cost of one more
# connection is the slope between steps (the first step also pays the server's warm-up).
#
# Usage (from the repo root):   bench/idle-connections.sh
#   IDLE_STEPS   connection counts (default: 100,1000,10000)
#   IDLE_FLAGS   extra `serve` flags (default: --max-connections 10000 --idle-timeout 5m)
#
# Connections come from 127.0.1.1-60 (loopback, round-robin: ≤ 167 per address at 10,000, under
# the per-address cap). Needs `ulimit -n` ≥ 2 × the largest step + 300 for the server and the
# client together; everything lives under one mktemp -d removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
STEPS=${IDLE_STEPS:-100,1000,10000}
read -r -a FLAGS <<<"${IDLE_FLAGS:---max-connections 10000 --idle-timeout 5m}"
LOG_LEVEL=warn

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init idle
[[ -n ${BIN:-} ]] || build_davgate
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

echo "## bench/idle-connections.sh: run of $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
echo
echo "- \`IDLE_STEPS=$STEPS IDLE_FLAGS='${FLAGS[*]}' bench/idle-connections.sh\`, ulimit -n $(ulimit -n)"
echo
echo "| transport | connections | alive | server VmRSS, MiB | RssAnon, MiB | VmHWM, MiB | RSS growth per connection, bytes |"
echo "|---|--:|--:|--:|--:|--:|--:|"
for transport in http1 tls-http1; do
    key=davgate-$transport tls=0 alpn=http/1.1 scheme=http
    extra=()
    if [[ $transport == tls-* ]]; then
        tls=1 scheme=https
        extra=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
    fi
    admin "$key" user add alice >/dev/null
    password=$(new_app_password "$key" alice bench)
    mkdir -p "$WORK/$key/data/files/alice"
    head -c 4096 /dev/urandom >"$WORK/$key/data/files/alice/file4k"
    SERVER_SCHEME=$scheme start_server "$key" "${FLAGS[@]}" "${extra[@]}"
    pid=$SERVER_PID
    python3 bench/idle-connections.py 127.0.0.1 "$SERVER_PORT" "$tls" "$(basic alice "$password")" \
        /dav/file4k "$pid" 127.0.1.1-60 "$STEPS" "$alpn" |
        python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print("| %s | %d | %d | %.1f | %.1f | %.1f | %d |" % (sys.argv[1], r["connections"], r["alive"],
          r["rss_kib"] / 1024, r["rss_anon_kib"] / 1024, r["hwm_kib"] / 1024, r["bytes_per_connection"]))
' "$transport"
    stop_server "$pid"
done
