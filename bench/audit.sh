#!/usr/bin/env bash
# The cost of the audit log's consumers on the WebDAV hot path (issue 15): authenticated GET of a
# 4 KiB file on two davgate servers of the same build, side by side in one run:
#   off  no webhook, no SMTP (the audit log itself is always on: it cannot be turned off)
#   on   the signed webhook POSTing every event to a receiver on loopback, and, where this build
#        has the smtp_* settings (the security e-mails), SMTP to a sink on loopback
# While each is measured, a background loop makes audit events on the server under load (an app
# password created and revoked every 0.2 s through the admin socket), so the writer, the webhook
# and the mails are busy during the GETs. Rounds alternate off/on so that drifts of a shared
# machine hit both alike. Prints a Markdown table and the ratio on/off of the median rates.
#
# Usage (from the repo root):   bench/audit.sh
#   CARGO_TARGET_DIR   where to build (default: target/)
#   BENCH_DURATION     wrk duration per run (default: 10s)
#   BENCH_ROUNDS       rounds (default: 3)
#   BENCH_BIN          a davgate release binary built with --features bench (default: build one)
#   BENCH_RESULTS      file whose audit section gets the report (default: bench/RESULTS.md;
#                      empty: do not save)
#
# Everything binds 127.0.0.1; every process started here is stopped on exit and all data lives
# under one mktemp -d removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)

DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=2
CONNS=32
LOG_LEVEL=warn

# shellcheck source=bench/lib.sh
source bench/lib.sh

bench_install wrk:wrk
for tool in curl python3 cargo; do
    command -v "$tool" >/dev/null || { echo "bench/audit.sh: $tool is required" >&2; exit 1; }
done

bench_init audit
build_davgate

# --- receivers on loopback: an HTTP 200 for the webhook, an SMTP sink for the mails ------------
start_receivers() {
    RECEIVER_PORT=$(free_port)
    python3 - "$RECEIVER_PORT" >"$WORK/receiver.log" 2>&1 <<'EOF' &
import http.server, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
EOF
    track_pid $!
    SMTP_PORT=$(free_port)
    python3 - "$SMTP_PORT" >"$WORK/smtp.log" 2>&1 <<'EOF' &
import asyncio, sys
async def session(reader, writer):
    writer.write(b"220 sink ESMTP\r\n")
    data = False
    while line := await reader.readline():
        if data:
            if line in (b".\r\n", b".\n"):
                data = False
                writer.write(b"250 ok\r\n")
        else:
            verb = line[:4].upper()
            if verb == b"DATA":
                data = True
                writer.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            elif verb == b"EHLO":
                writer.write(b"250-sink\r\n250 8BITMIME\r\n")
            else:
                writer.write(b"250 ok\r\n")
        await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(session, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
asyncio.run(main())
EOF
    track_pid $!
    sleep 0.5
}

# --- two servers of the same build --------------------------------------------------------------
declare -A PID URL AUTH MAIL
setup() { # KEY
    local key=$1 password
    admin "$key" user add alice >/dev/null
    password=$(new_app_password "$key" alice bench)
    mkdir -p "$WORK/$key/data/files/alice"
    head -c 4096 /dev/urandom >"$WORK/$key/data/files/alice/file4k"
    start_server "$key"
    PID[$key]=$SERVER_PID
    URL[$key]=http://127.0.0.1:$SERVER_PORT/dav/file4k
    AUTH[$key]=$(basic alice "$password")
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: ${AUTH[$key]}" "${URL[$key]}")
    [[ $code == 200 ]] || { echo "$key: GET file4k answered $code" >&2; exit 1; }
}

start_receivers
setup off
setup on
admin on settings set webhook_url "http://127.0.0.1:$RECEIVER_PORT/hook" >/dev/null
admin on settings set webhook_secret "$(head -c 24 /dev/urandom | base64)" >/dev/null
# The security e-mails, where this build has them (the smtp_* settings of the mail work).
MAIL[on]=no
if admin on settings set smtp_url "smtp://127.0.0.1:$SMTP_PORT?tls=none" >/dev/null 2>&1; then
    admin on settings set smtp_from "davgate@bench.invalid" >/dev/null 2>&1 || true
    admin on user email alice "alice@bench.invalid" >/dev/null 2>&1 || true
    MAIL[on]=yes
fi
echo "webhook on: yes; e-mails on: ${MAIL[on]}" >&2

events_loop() { # KEY: an app password created and revoked every 0.2 s, until killed
    local key=$1 id
    while :; do
        id=$(admin "$key" app-password create alice churn --json 2>/dev/null |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') || true
        [[ -z $id ]] || admin "$key" app-password revoke alice "$id" >/dev/null 2>&1 || true
        sleep 0.2
    done
}

declare -A RATES=([off]='' [on]='')
for ((round = 1; round <= ROUNDS; round++)); do
    echo "round $round/$ROUNDS" >&2
    for key in off on; do
        events_loop "$key" &
        loop=$!
        run_wrk "$key-$round" "${PID[$key]}" "${URL[$key]}" 200 "${AUTH[$key]}"
        kill "$loop" 2>/dev/null || true
        wait "$loop" 2>/dev/null || true
        RATES[$key]+="$RATE "
    done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
OFF=$(echo "${RATES[off]}" | median)
ON=$(echo "${RATES[on]}" | median)
RATIO=$(awk -v on="$ON" -v off="$OFF" 'BEGIN { printf "%.3f", on / off }')
SENT=$(admin on status --json | python3 -c 'import json, sys; s = json.load(sys.stdin); w = s.get("webhook", {}); print(w.get("sent", 0), w.get("failed", 0), w.get("dropped", 0), s.get("audit_dropped", 0))')

REPORT=$(cat <<EOF
## Audit consumers on vs off: run of $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$REPO" rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)

Authenticated GET of a 4 KiB file, wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds alternating,
an app password created and revoked every 0.2 s on the server under load. "on": signed webhook
to a loopback receiver, e-mails ${MAIL[on]}.

| | GET 4 KiB (responses/s, median) | rounds |
|---|---:|---|
| off | $OFF | ${RATES[off]} |
| on  | $ON | ${RATES[on]} |

**on / off = $RATIO** (the issue asks ≥ 0.95). Webhook sent/failed/dropped and audit events
dropped on "on": $SENT.
EOF
)
echo "$REPORT" | tee "$WORK/report.md"
save_section bench/audit.sh "$WORK/report.md"
