#!/usr/bin/env bash
# Connection floods against a release davgate, beside a valid client: what the valid client still
# gets (wrk req/s against its own baseline) and what the server holds (peak RSS, open fds).
#
#   (a) 2,000 idle TCP connections (never a byte; reopened whenever the server closes them)
#   (b) 500 idle HTTP/2 connections over TLS (preface and settings, then nothing; reopened)
#   (c) 100 HTTP/2 connections x 200 sign-in streams sending ~60 KB each, then stalling
#   (d) 100 HTTP/2 connections x 200 authenticated PUT streams sending 1 byte each, then stalling
#
# Each flood runs twice: from one address (127.0.0.3, which meets the per-address cap) and spread
# over 40 addresses (127.0.0.4-43). The server listens on 127.0.0.2; the valid client (wrk)
# connects from 127.0.0.1, the kernel's source address for loopback. Before each flood wrk
# measures a fresh baseline (the machine may be shared), then again during the flood. The
# attacker runs at nice 19: its CPU is not the server's. Targets: req/s >= 80 % of the
# baseline, RSS <= 64 MiB. Each flood gets a fresh server (glibc never gives memory back).
#
# Usage (from the repo root):   bench/attack-connections.sh
#   CARGO_TARGET_DIR   where to build (default: target/)
#   ATTACK_SECONDS     how long each flood lasts (default: 16; wrk measures 5 s in the middle)
#
# Bounded: every flood stops itself, every server started here is stopped on exit, and all
# scratch data (data dirs, the certificate, the Python venv with its pinned h2) lives under one
# mktemp -d removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
SECONDS_PER_ATTACK=${ATTACK_SECONDS:-16}
H2_VERSION=4.4.1
LOG_LEVEL=warn

# shellcheck source=bench/lib.sh
source bench/lib.sh

bench_install wrk:wrk openssl:openssl
for tool in curl python3 cargo; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
bench_init attack-connections
build_davgate

echo "preparing: python venv with h2==$H2_VERSION, a certificate" >&2
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q "h2==$H2_VERSION" >&2
PY=$WORK/venv/bin/python
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
head -c 4096 /dev/urandom >"$WORK/file4k"

start_on() { # NAME SCHEME [serve flags...]: a server on 127.0.0.2:0; sets SERVER_PID, SERVER_PORT
    local name=$1 scheme=$2
    shift 2
    SERVER_HOST=127.0.0.2 SERVER_SCHEME=$scheme start_server "$name" "$@"
}

peak_sampler() { # PID OUT: writes "peak_rss_kib peak_fds" to OUT until killed
    local pid=$1 out=$2 rss fds peak_rss=0 peak_fds=0
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(proc_kib "$pid" VmRSS)
        fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        ((rss > peak_rss)) && peak_rss=$rss
        ((fds > peak_fds)) && peak_fds=$fds
        echo "$peak_rss $peak_fds" >"$out"
        sleep 0.2
    done
}

wrk_rate() { # URL AUTH: prints "req/s non2xx" for 5 s of wrk -t2 -c16 from 127.0.0.2
    local out
    out=$(wrk -t2 -c16 -d5s --timeout 5s -H "Authorization: $2" "$1" 2>&1)
    local rate bad
    rate=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' <<<"$out")
    bad=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
    echo "${rate:-0} ${bad:-0}"
}

RESULTS=()
attack() { # LABEL URL AUTH attack-args...: one flood beside wrk; appends to RESULTS
    local label=$1 url=$2 auth=$3 baseline before
    shift 3
    read -r baseline _ < <(wrk_rate "$url" "$auth")
    before=$(proc_kib "$SERVER_PID" VmRSS)
    local sampler_out=$WORK/peak.$RANDOM
    peak_sampler "$SERVER_PID" "$sampler_out" &
    local sampler=$!
    timeout $((SECONDS_PER_ATTACK + 30)) nice -n 19 "$PY" bench/attack-connections.py "$@" >"$WORK/attack.json" &
    local attacker=$!
    sleep $((SECONDS_PER_ATTACK / 2 - 3))
    local rate bad
    read -r rate bad < <(wrk_rate "$url" "$auth")
    wait "$attacker" || true
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    local peak_rss peak_fds
    read -r peak_rss peak_fds <"$sampler_out"
    local pct=$((baseline > 0 ? rate * 100 / baseline : 0))
    local line
    line=$(printf '%-46s %6s -> %6s req/s (%3d%%, %s non-2xx)  RSS %5s -> peak %5s MiB  peak fds %5s  %s' \
        "$label" "$baseline" "$rate" "$pct" "$bad" "$(mib "$before")" "$(mib "$peak_rss")" \
        "$peak_fds" "$(cat "$WORK/attack.json")")
    echo "$line" >&2
    RESULTS+=("$line")
    sleep 3 # let the server close what is left before the next flood
}

setup() { # NAME SCHEME: user alice, app password in $PASSWORD, file4k uploaded; prints the base URL
    local name=$1 scheme=$2
    admin "$name" user add alice >/dev/null
    PASSWORD=$(new_app_password "$name" alice bench)
    local base=$scheme://127.0.0.2:$SERVER_PORT
    curl -sk -o /dev/null -u "alice:$PASSWORD" -T "$WORK/file4k" "$base/dav/file4k"
    BASE=$base
}

fresh() { # SCHEME: a new server (glibc never returns memory: one server per flood keeps the
    # floods apart), with alice and file4k; sets BASE, AUTH
    local scheme=$1 name=srv$RANDOM
    [[ -z ${SERVER_PID:-} ]] || stop_server "$SERVER_PID"
    if [[ $scheme == https ]]; then
        start_on "$name" https --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
    else
        start_on "$name" http
    fi
    setup "$name" "$scheme"
    AUTH=$(basic alice "$PASSWORD")
}

for src in 127.0.0.3 127.0.0.4-43; do
    fresh http
    attack "(a) 2000 idle TCP from $src" "$BASE/dav/file4k" "$AUTH" \
        tcp 127.0.0.2 "$SERVER_PORT" 0 2000 "$src" "$SECONDS_PER_ATTACK"
done
for src in 127.0.0.3 127.0.0.4-43; do
    fresh https
    attack "(b) 500 idle h2/TLS from $src" "$BASE/dav/file4k" "$AUTH" \
        h2idle 127.0.0.2 "$SERVER_PORT" 1 500 "$src" "$SECONDS_PER_ATTACK"
done
for src in 127.0.0.3 127.0.0.4-43; do
    fresh https
    attack "(c) 100 h2 x 200 stalled sign-ins from $src" "$BASE/dav/file4k" "$AUTH" \
        h2stall 127.0.0.2 "$SERVER_PORT" 1 100 "$src" "$SECONDS_PER_ATTACK" 200
done
for src in 127.0.0.3 127.0.0.4-43; do
    fresh https
    attack "(d) 100 h2 x 200 stalled PUTs from $src" "$BASE/dav/file4k" "$AUTH" \
        h2put 127.0.0.2 "$SERVER_PORT" 1 100 "$src" "$SECONDS_PER_ATTACK" 200 "$AUTH"
    sleep 2
    RESULTS+=("    after it: RSS $(mib "$(proc_kib "$SERVER_PID" VmRSS)") MiB, $(find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 | wc -l) fds")
done

echo
echo "attack-connections: davgate $(git -C "$REPO" rev-parse --short HEAD), $(nproc) cores, ulimit -n $(ulimit -n)"
printf '%s\n' "${RESULTS[@]}"
