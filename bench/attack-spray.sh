#!/usr/bin/env bash
# Name-spraying attack (red-team finding 11): 400 connections from 127.0.0.1, each request with
# a new user name and a forged app password (valid checksum, so each would cost one argon2), and
# meanwhile a legitimate person signing in from 127.0.0.2. Two rounds: the flood on WebDAV
# (PROPFIND /dav/), then on the web sign-in (POST /api/v1/session). Reports the legitimate
# sign-in latency (web sign-in, and a WebDAV first use of a fresh app password) before and
# during each flood, the argon2 verifications the flood cost, and the server's peak RSS.
#
# Target (issue 9): the legitimate sign-in from another address stays at or under 0.2 s.
#
# Usage (from the repo root):   bench/attack-spray.sh
#   CARGO_TARGET_DIR   where to build (default: target/)
#   FLOOD_SECONDS      length of each flood (default: 20)
#   FLOOD_CONNS        attacker connections (default: 400)
#
# Bounded: two floods of FLOOD_SECONDS, a fixed number of samples, every curl with --max-time.
# Everything listens on 127.0.0.1; every process started here is stopped on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
FLOOD_SECONDS=${FLOOD_SECONDS:-20}
FLOOD_CONNS=${FLOOD_CONNS:-400}
SAMPLES=8          # legitimate sign-ins of each kind per phase
SPRAY_NAMES=200000 # distinct (name, forged token) pairs for the WebDAV flood

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_install wrk:wrk curl:curl
command -v python3 >/dev/null || { echo "attack-spray: python3 is required" >&2; exit 1; }

bench_init spray
build_davgate

start_server spray
PID=$SERVER_PID
B=http://127.0.0.1:$SERVER_PORT
echo alicepassword1 | admin spray user add alice --password-stdin >/dev/null

# Fresh app passwords, one per WebDAV first-use sample (created now: hashing them is not measured).
: >"$WORK/fresh"
for ((i = 0; i < 3 * SAMPLES; i++)); do
    new_app_password spray alice "sample $i" >>"$WORK/fresh"
done
FRESH_NEXT=1

# Forged credentials: a new user name and a random id with a valid checksum each.
python3 - "$SPRAY_NAMES" >"$WORK/spray-auth" <<'EOF'
import base64, secrets, sys, zlib
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
def check(payload):
    crc = zlib.crc32(("dgp" + payload).encode("ascii"))
    return "".join(ALPHABET[(crc >> (5 * i)) & 31] for i in range(6, -1, -1))
for n in range(int(sys.argv[1])):
    payload = "".join(secrets.choice(ALPHABET) for _ in range(38))
    b = payload + check(payload)
    token = "dgp-" + "-".join(b[i:i + 5] for i in range(0, 45, 5))
    print("Basic " + base64.b64encode(f"sprayed{n}:{token}".encode()).decode())
EOF

cat >"$WORK/web-spray.lua" <<'EOF'
local threads, nthreads = {}, 0
function setup(thread)
    thread:set("id", nthreads)
    nthreads = nthreads + 1
    table.insert(threads, thread)
end
function init(args)
    counter, counts = 0, {}
end
function request()
    counter = counter + 1
    local body = string.format('{"user":"spray%d-%d","password":"guess-%d"}', id, counter, counter)
    return wrk.format("POST", "/api/v1/session", { ["Content-Type"] = "application/json" }, body)
end
function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
end
function done(summary, latency, requests)
    local all, parts = {}, {}
    for _, t in ipairs(threads) do
        for status, n in pairs(t:get("counts")) do all[status] = (all[status] or 0) + n end
    end
    for status, n in pairs(all) do parts[#parts + 1] = status .. ":" .. n end
    table.sort(parts)
    io.write("BENCH statuses=" .. table.concat(parts, ",") .. "\n")
end
EOF

web_sign_in() { # prints "seconds status" of one web sign-in of alice from 127.0.0.2
    curl -sS --interface 127.0.0.2 --max-time 15 -o /dev/null -w '%{time_total} %{http_code}\n' \
        -H 'Content-Type: application/json' -d '{"user":"alice","password":"alicepassword1"}' \
        "$B/api/v1/session" || echo "15 000"
}

dav_first_use() { # prints "seconds status" of the first use of a fresh app password from 127.0.0.2
    local password
    password=$(sed -n "${FRESH_NEXT}p" "$WORK/fresh")
    FRESH_NEXT=$((FRESH_NEXT + 1))
    curl -sS --interface 127.0.0.2 --max-time 15 -o /dev/null -w '%{time_total} %{http_code}\n' \
        -X PROPFIND -H 'Depth: 0' -u "alice:$password" "$B/dav/" || echo "15 000"
}

summary() { # LABEL FILE: median and worst of "seconds status" lines, and the statuses seen
    sort -n "$2" | awk -v label="$1" '{ t[NR] = $1; s[$2]++ } END {
        codes = ""; for (c in s) codes = codes c "x" s[c] " ";
        printf "  %-34s median %.3f s  worst %.3f s  (%d samples; statuses %s)\n",
            label, t[int((NR + 1) / 2)], t[NR], NR, codes }'
}

status_field() { # FIELD: one counter of `davgate status --json`
    admin spray status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

measure() { # PHASE: SAMPLES of each legitimate sign-in, one every half second
    local phase=$1 i
    : >"$WORK/$phase-web"
    : >"$WORK/$phase-dav"
    for ((i = 0; i < SAMPLES; i++)); do
        web_sign_in >>"$WORK/$phase-web"
        dav_first_use >>"$WORK/$phase-dav"
        sleep 0.5
    done
    summary "$phase: web sign-in (127.0.0.2)" "$WORK/$phase-web"
    summary "$phase: WebDAV first use (127.0.0.2)" "$WORK/$phase-dav"
}

flood() { # NAME wrk-args...: runs wrk in the background for FLOOD_SECONDS; sets FLOOD_PID
    local name=$1
    shift
    wrk -t2 -c"$FLOOD_CONNS" -d"${FLOOD_SECONDS}s" --timeout 20s "$@" >"$WORK/flood-$name.txt" 2>&1 &
    FLOOD_PID=$!
    track_pid "$FLOOD_PID"
}

echo "davgate $(git -C "$REPO" rev-parse --short HEAD), $(nproc) cores; flood: $FLOOD_CONNS connections from 127.0.0.1 for ${FLOOD_SECONDS}s" >&2
measure baseline

for kind in webdav web; do
    before=$(status_field argon2_verifications)
    if [[ $kind == webdav ]]; then
        flood webdav -s "$ROTATE_LUA" "$B/dav/" -- "401,429" PROPFIND "" "$WORK/spray-auth" 2
    else
        flood web -s "$WORK/web-spray.lua" "$B/"
    fi
    sleep 3 # the flood is under way: its burst is spent
    measure "$kind flood"
    wait "$FLOOD_PID" || true
    after=$(status_field argon2_verifications)
    requests=$(awk '/requests in/ { print $1 }' "$WORK/flood-$kind.txt")
    statuses=$(sed -n 's/^BENCH .*statuses=\([^ ]*\).*/\1/p' "$WORK/flood-$kind.txt")
    echo "  $kind flood: ${requests:-?} attacker requests (statuses ${statuses:-n/a}), $((after - before)) argon2 verifications in all (flood and samples)" >&2
    sleep 2
done
echo "  server peak RSS: $(mib "$(proc_kib "$PID" VmHWM)") MiB; throttled keys now: $(status_field throttled_keys)" >&2
grep -c 'too many sign-in attempts from this network' "$WORK/spray/stderr" |
    sed 's/^/  log lines "too many sign-in attempts from this network": /' >&2 || true
