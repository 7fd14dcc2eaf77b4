#!/usr/bin/env bash
# What an idle kept-alive connection costs davgate: 100, 1,000 and 10,000 connections that each
# made one authenticated GET 4 KiB and then stay idle, over HTTP/1.1 and HTTP/1.1 over TLS (one
# fresh davgate per transport), with the server's memory after each step and a valid client's
# req/s measured beside the idle connections. The cost of one more connection is the slope
# between steps (the first step also pays the server's warm-up).
#
# Usage (from the repo root):   bench/idle-connections.sh
# Knobs (environment variables; bench/scale.sh sets them):
#   BIN                 the davgate binary (default: a release build with --features bench)
#   IDLE_STEPS          connection counts, ascending (default: 100,1000,10000)
#   IDLE_TRANSPORTS     http1 and/or tls-http1 (default: http1,tls-http1)
#   IDLE_MODE           what each connection does before it idles: request (default: one GET),
#                       connect (nothing: an accepted socket's cost), handshake (TLS only)
#   IDLE_FLAGS          extra `serve` flags (default: --idle-timeout 5m, so that no connection
#                       times out during the run, and --max-connections of the largest step)
#   IDLE_PROBE_SECONDS  how long the valid client (wrk -t1) runs after each step; 0: not run
#                       (default: 3)
#   IDLE_PROBE_CONNS    the valid client's connections (default: 8)
#   IDLE_HOLD_SECONDS   how long the connections stay open after the last step, to inspect the
#                       server (e.g. gdb -p PID -batch -ex 'call (void) malloc_stats()'; default: 0)
#   IDLE_OUTPUT         table (default: a Markdown table), json (one JSON object per line and
#                       step, with "transport"; nothing else on stdout) or tsv (a header line,
#                       then one line per step)
# Fields (json/tsv): transport, mode, connections (opened), alive (still open), failed,
# rss_mib, rss_anon_mib, rss_file_mib, hwm_mib (the server's VmHWM so far),
# bytes_per_connection (RSS growth since none was open / connections), slope_bytes (RSS growth
# per connection since the previous step), valid_client_rps (200s per second; null: not run).
#
# Connections come from 127.0.1.1-60 (loopback, round-robin: ≤ 167 per address at 10,000, under
# the per-address cap). Needs `ulimit -n` ≥ 2 × the largest step + 300 for the server and the
# client together; everything lives under one mktemp -d removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
STEPS=${IDLE_STEPS:-100,1000,10000}
TRANSPORTS=${IDLE_TRANSPORTS:-http1,tls-http1}
OUTPUT=${IDLE_OUTPUT:-table}
export IDLE_MODE=${IDLE_MODE:-request}
export IDLE_PROBE_SECONDS=${IDLE_PROBE_SECONDS:-3} IDLE_PROBE_CONNS=${IDLE_PROBE_CONNS:-8}
export IDLE_HOLD_SECONDS=${IDLE_HOLD_SECONDS:-0}
LARGEST=${STEPS##*,}
# The server must be allowed every connection of the largest step: at its default ceiling it
# closes the idle ones beyond it, and the memory per connection would be read over fewer.
read -r -a FLAGS <<<"${IDLE_FLAGS:---idle-timeout 5m --max-connections $LARGEST}"
LOG_LEVEL=warn

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init idle
[[ -n ${BIN:-} ]] || build_davgate >&2
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

case $OUTPUT in
table)
    echo "## bench/idle-connections.sh: run of $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
    echo
    echo "- \`IDLE_STEPS=$STEPS IDLE_MODE=$IDLE_MODE IDLE_FLAGS='${FLAGS[*]}' bench/idle-connections.sh\`, ulimit -n $(ulimit -n), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- valid client: \`wrk -t1 -c$IDLE_PROBE_CONNS -d${IDLE_PROBE_SECONDS}s\` GET 4 KiB after each step, 200s per second"
    echo
    echo "| transport | connections | alive | server VmRSS, MiB | RssAnon, MiB | VmHWM, MiB | RSS growth per connection, bytes | slope since the previous step, bytes per connection | valid client, req/s |"
    echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    ;;
tsv) printf 'transport\tmode\tconnections\talive\tfailed\trss_mib\trss_anon_mib\trss_file_mib\thwm_mib\tbytes_per_connection\tslope_bytes\tvalid_client_rps\n' ;;
json) ;;
*) echo "IDLE_OUTPUT=$OUTPUT: table, json or tsv" >&2; exit 2 ;;
esac

IFS=, read -r -a transports <<<"$TRANSPORTS"
for transport in "${transports[@]}"; do
    key=davgate-$transport tls=0 alpn=http/1.1 scheme=http
    extra=()
    case $transport in
    http1) ;;
    tls-http1)
        tls=1 scheme=https
        extra=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
        ;;
    *) echo "IDLE_TRANSPORTS: unknown $transport (http1, tls-http1)" >&2; exit 2 ;;
    esac
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
transport, output = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    r = json.loads(line)
    mib = lambda k: round(r[k] / 1024, 1)
    row = {"transport": transport, "mode": r["mode"], "connections": r["connections"],
           "alive": r["alive"], "failed": r["failed"], "rss_mib": mib("rss_kib"),
           "rss_anon_mib": mib("rss_anon_kib"), "rss_file_mib": mib("rss_file_kib"),
           "hwm_mib": mib("hwm_kib"), "bytes_per_connection": r["bytes_per_connection"],
           "slope_bytes": r["slope_bytes_per_connection"], "valid_client_rps": r["valid_client_rps"]}
    if output == "json":
        print(json.dumps(row), flush=True)
    elif output == "tsv":
        print("\t".join("" if v is None else str(v) for v in row.values()), flush=True)
    else:
        n = lambda k: "—" if row[k] is None else format(row[k], ",")
        print("| %s | %s | %s | %.1f | %.1f | %.1f | %s | %s | %s |" % (
            transport, n("connections"), n("alive"), row["rss_mib"], row["rss_anon_mib"],
            row["hwm_mib"], n("bytes_per_connection"), n("slope_bytes"), n("valid_client_rps")),
            flush=True)
' "$transport" "$OUTPUT"
    stop_server "$pid"
done
