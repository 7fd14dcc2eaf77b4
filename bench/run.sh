#!/usr/bin/env bash
# davgate benchmarks: authenticated GET throughput with and without the credential cache, PUT
# throughput with durability fsync and fast, and the server's memory during a flood of wrong app
# passwords.
#
# Usage (from the repo root):   bench/run.sh
#   CARGO_TARGET_DIR   where to build (default: target/)
#   BENCH_DURATION     wrk duration per run (default: 10s)
#   BENCH_BIN          a davgate release binary built with --features bench (default: build one)
#   BENCH_RESULTS      file whose run.sh section gets the report (default: bench/RESULTS.md;
#                      empty: do not save)
#
# Everything listens on 127.0.0.1 only. Every server started here is stopped on exit, and every
# data directory lives under one mktemp -d that is removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)

DURATION=${BENCH_DURATION:-10s}
THREADS=2
CONNS=32
LOG_LEVEL=warn # RUST_LOG for every server started here
ROUNDS=2
DISTINCT_CREDS=64 # app passwords for the supplementary single-flight-free uncached run

# shellcheck source=bench/lib.sh
source bench/lib.sh # build, start_server, run_wrk, wrong_passwords...

bench_install wrk:wrk
for tool in curl python3 cargo; do
    command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool is required" >&2; exit 1; }
done

bench_init run # $WORK, removed on exit with every server started here
build_davgate  # $BIN

# --- setup -------------------------------------------------------------------------------------
head -c 4096 /dev/urandom >"$WORK/file4k"

setup_server() { # NAME [serve flags...]: starts it, adds alice, creates an app password, uploads
    local name=$1
    start_server "$@"
    admin "$name" user add alice >/dev/null
    local password
    password=$(new_app_password "$name" alice bench)
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' -u "alice:$password" -T "$WORK/file4k" \
        "http://127.0.0.1:$SERVER_PORT/dav/file4k")
    [[ $code == 201 ]] || { echo "upload to '$name' answered $code, not 201" >&2; exit 1; }
    code=$(curl -sS -o "$WORK/check" -w '%{http_code}' -u "alice:$password" \
        "http://127.0.0.1:$SERVER_PORT/dav/file4k")
    [[ $code == 200 ]] && cmp -s "$WORK/file4k" "$WORK/check" ||
        { echo "GET from '$name' answered $code or other bytes" >&2; exit 1; }
    PASSWORD=$password
}

echo "starting servers (RUST_LOG=$LOG_LEVEL)" >&2
setup_server cache
CACHE_PID=$SERVER_PID CACHE_URL=http://127.0.0.1:$SERVER_PORT/dav/file4k
CACHE_AUTH=$(basic alice "$PASSWORD")
setup_server nocache --bench-no-auth-cache
NOCACHE_PID=$SERVER_PID NOCACHE_URL=http://127.0.0.1:$SERVER_PORT/dav/file4k
NOCACHE_AUTH=$(basic alice "$PASSWORD")

# --- 1. authenticated GET, cache vs no cache, interleaved --------------------------------------
echo "authenticated GET of 4 KiB: wrk -t$THREADS -c$CONNS -d$DURATION, one Authorization header" >&2
declare -a CACHE_RATES NOCACHE_RATES
for ((round = 1; round <= ROUNDS; round++)); do
    run_wrk "cache-r$round" "$CACHE_PID" "$CACHE_URL" 200 "$CACHE_AUTH"
    CACHE_RATES+=("$RATE")
    run_wrk "nocache-r$round" "$NOCACHE_PID" "$NOCACHE_URL" 200 "$NOCACHE_AUTH"
    NOCACHE_RATES+=("$RATE")
done

CACHE_HWM=$(proc_kib "$CACHE_PID" VmHWM)
NOCACHE_HWM=$(proc_kib "$NOCACHE_PID" VmHWM)
stop_server "$CACHE_PID"

# Supplementary: concurrent requests carrying the same header share one argon2 verification
# (the gate's single flight), so the run above does not pay argon2 per request. Rotating over
# distinct app passwords (each thread cycles through its own half, more than its connections)
# makes every in-flight request verify on its own.
echo "creating $DISTINCT_CREDS app passwords on the no-cache server" >&2
# More live passwords than one user may hold by default (app_credentials_max_per_user, 50).
admin nocache settings set app_credentials_max_per_user $((DISTINCT_CREDS + 10)) >/dev/null
for ((i = 0; i < DISTINCT_CREDS; i++)); do
    password=$(new_app_password nocache alice "bench-$i") # fails the run if refused
    basic alice "$password"
    echo
done >"$WORK/distinct-auths.txt"
# Use each once before the run so that the first-use write is not measured.
while read -r auth; do
    curl -sS -o /dev/null -H "Authorization: $auth" "$NOCACHE_URL"
done <"$WORK/distinct-auths.txt"
echo "authenticated GET, no cache, $DISTINCT_CREDS distinct app passwords in rotation" >&2
run_wrk "nocache-distinct" "$NOCACHE_PID" "$NOCACHE_URL" 200 "@$WORK/distinct-auths.txt"
NOCACHE_DISTINCT_RATE=$RATE
NOCACHE_DISTINCT_HWM=$(proc_kib "$NOCACHE_PID" VmHWM)
stop_server "$NOCACHE_PID"

# --- 2. PUT 4 KiB, durability fsync vs fast, interleaved ---------------------------------------
# Every PUT streams into a temporary file renamed into place; with fsync the file and its folder
# are fsynced before the 204. Concurrent PUTs to one path all succeed (last rename wins).
echo "PUT of 4 KiB to one path: durability fsync vs fast" >&2
setup_server put
PUT_PID=$SERVER_PID PUT_URL=http://127.0.0.1:$SERVER_PORT/dav/file4k
PUT_AUTH=$(basic alice "$PASSWORD")
declare -a FSYNC_RATES FAST_RATES
for ((round = 1; round <= ROUNDS; round++)); do
    admin put settings set durability fsync >/dev/null
    run_wrk -m PUT -b "$WORK/file4k" "put-fsync-r$round" "$PUT_PID" "$PUT_URL" 204 "$PUT_AUTH"
    FSYNC_RATES+=("$RATE")
    admin put settings set durability fast >/dev/null
    run_wrk -m PUT -b "$WORK/file4k" "put-fast-r$round" "$PUT_PID" "$PUT_URL" 204 "$PUT_AUTH"
    FAST_RATES+=("$RATE")
done
PUT_HWM=$(proc_kib "$PUT_PID" VmHWM)
stop_server "$PUT_PID"

# --- 3. wrong-password flood -------------------------------------------------------------------
flood() { # NAME LABEL AUTH|@FILE: fresh server, flood, sets FLOOD_* figures
    local name=$1 label=$2 auth=$3
    start_server "$name"
    local pid=$SERVER_PID url=http://127.0.0.1:$SERVER_PORT/dav/file4k
    admin "$name" user add alice >/dev/null
    # The throttle would refuse the flood after 10 guesses; off, this measures what the bounded
    # argon2 pool costs in memory when every guess is verified (bench/compare.sh measures the
    # flood with the throttle on).
    admin "$name" settings set login_throttle false >/dev/null
    local password
    password=$(new_app_password "$name" alice bench)
    wrong_passwords "$password" 20000 >"$WORK/$name-wrong.txt"
    if [[ $auth == one ]]; then
        auth=$(basic alice "$(head -n1 "$WORK/$name-wrong.txt")")
    else
        basic_lines alice <"$WORK/$name-wrong.txt" >"$WORK/$name-wrong-auths.txt"
        auth=@$WORK/$name-wrong-auths.txt
    fi
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' -u "alice:$password" "$url")
    [[ $code == 404 ]] || { echo "sanity GET with the right password on '$name': $code" >&2; exit 1; }
    code=$(curl -sS -o /dev/null -w '%{http_code}' \
        -u "alice:$(sed -n 2p "$WORK/$name-wrong.txt")" "$url")
    [[ $code == 401 ]] || { echo "sanity GET with a wrong password on '$name': $code" >&2; exit 1; }
    FLOOD_HWM_BEFORE=$(proc_kib "$pid" VmHWM)
    FLOOD_RSS_BEFORE=$(proc_kib "$pid" VmRSS)
    run_wrk "$label" "$pid" "$url" 401 "$auth"
    FLOOD_RATE=$RATE
    FLOOD_HWM=$(proc_kib "$pid" VmHWM)
    FLOOD_RSS=$(proc_kib "$pid" VmRSS)
    printf '  %-22s VmHWM %s MiB -> %s MiB, VmRSS %s MiB -> %s MiB\n' "$label" \
        "$(mib "$FLOOD_HWM_BEFORE")" "$(mib "$FLOOD_HWM")" \
        "$(mib "$FLOOD_RSS_BEFORE")" "$(mib "$FLOOD_RSS")" >&2
    stop_server "$pid"
}

echo "wrong-password flood: wrk -t$THREADS -c$CONNS -d$DURATION, right user, wrong secret" >&2
flood flood-one "flood-one-password" one
F1_RATE=$FLOOD_RATE F1_HWM=$FLOOD_HWM F1_RSS=$FLOOD_RSS F1_HWM_BEFORE=$FLOOD_HWM_BEFORE
echo "wrong-password flood, a different wrong password on every request" >&2
flood flood-distinct "flood-distinct" many
F2_RATE=$FLOOD_RATE F2_HWM=$FLOOD_HWM F2_RSS=$FLOOD_RSS F2_HWM_BEFORE=$FLOOD_HWM_BEFORE

# --- 4. report ---------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f×", a / b; else print "n/a" }'; }
mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.1f", s / NR }'; }
CACHE_MEAN=$(mean "${CACHE_RATES[@]}")
NOCACHE_MEAN=$(mean "${NOCACHE_RATES[@]}")

report() {
    echo "## bench/run.sh: davgate alone (the credential cache, PUT durability, wrong-password floods)"
    echo
    echo "- commit: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' (with uncommitted changes)')"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- nproc: $(nproc)"
    echo "- load: wrk -t$THREADS -c$CONNS -d$DURATION on the same machine, 127.0.0.1; server RUST_LOG=$LOG_LEVEL; release build with --features bench"
    echo "- rates count only responses with the expected status (200 for GET, 204 for PUT, 401 for the flood)"
    echo "- \"no cache\" with one Authorization header: concurrent requests carrying the same header share one"
    echo "  argon2 verification (the gate's single flight), so it is not one argon2 per request; the"
    echo "  rotation rows use distinct credentials per in-flight request and pay argon2 on each"
    echo "- VmHWM \"idle\" is a fresh server after user add, app-password create and two checking requests"
    echo
    echo "| workload | figure |"
    echo "|---|---|"
    for ((round = 1; round <= ROUNDS; round++)); do
        i=$((round - 1))
        echo "| GET 4 KiB, cache, round $round | ${CACHE_RATES[i]} req/s |"
        echo "| GET 4 KiB, no cache, round $round | ${NOCACHE_RATES[i]} req/s |"
        echo "| ratio cache/no cache, round $round | $(ratio "${CACHE_RATES[i]}" "${NOCACHE_RATES[i]}") |"
    done
    echo "| ratio cache/no cache, mean of rounds | $(ratio "$CACHE_MEAN" "$NOCACHE_MEAN") ($CACHE_MEAN / $NOCACHE_MEAN req/s) |"
    echo "| GET 4 KiB, no cache, $DISTINCT_CREDS app passwords in rotation (no single flight) | $NOCACHE_DISTINCT_RATE req/s |"
    echo "| ratio cache (mean of rounds) / no cache in rotation | $(ratio "$CACHE_MEAN" "$NOCACHE_DISTINCT_RATE") |"
    echo "| server VmHWM after the GET runs, cache | $(mib "$CACHE_HWM") MiB |"
    echo "| server VmHWM after the GET runs, no cache | $(mib "$NOCACHE_HWM") MiB |"
    echo "| server VmHWM, no cache, after creating $DISTINCT_CREDS more app passwords and the rotation run | $(mib "$NOCACHE_DISTINCT_HWM") MiB |"
    for ((round = 1; round <= ROUNDS; round++)); do
        i=$((round - 1))
        echo "| PUT 4 KiB, durability fsync, round $round | ${FSYNC_RATES[i]} req/s |"
        echo "| PUT 4 KiB, durability fast, round $round | ${FAST_RATES[i]} req/s |"
    done
    echo "| ratio PUT fast/fsync, mean of rounds | $(ratio "$(mean "${FAST_RATES[@]}")" "$(mean "${FSYNC_RATES[@]}")") ($(mean "${FAST_RATES[@]}") / $(mean "${FSYNC_RATES[@]}") req/s) |"
    echo "| server VmHWM after the PUT runs | $(mib "$PUT_HWM") MiB |"
    echo "| wrong-password flood (one wrong password), 401/s | $F1_RATE |"
    echo "| wrong-password flood (one wrong password), VmHWM idle → after | $(mib "$F1_HWM_BEFORE") → $(mib "$F1_HWM") MiB |"
    echo "| wrong-password flood (one wrong password), VmRSS after | $(mib "$F1_RSS") MiB |"
    echo "| wrong-password flood (distinct per request), 401/s | $F2_RATE |"
    echo "| wrong-password flood (distinct per request), VmHWM idle → after | $(mib "$F2_HWM_BEFORE") → $(mib "$F2_HWM") MiB |"
    echo "| wrong-password flood (distinct per request), VmRSS after | $(mib "$F2_RSS") MiB |"
}
report | tee "$WORK/report.md"
save_section bench/run.sh "$WORK/report.md"
