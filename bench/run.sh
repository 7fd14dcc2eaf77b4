#!/usr/bin/env bash
# davgate benchmarks: authenticated GET throughput with and without the credential cache, PUT
# throughput with durability fsync and fast, and the server's memory during a flood of wrong app
# passwords.
#
# Usage (from the repo root):   bench/run.sh
#   CARGO_TARGET_DIR   where to build (default: target/)
#   BENCH_DURATION     wrk duration per run (default: 10s)
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

# --- tools ------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    echo "installing wrk..." >&2
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
for tool in curl python3 cargo; do
    command -v "$tool" >/dev/null || { echo "bench/auth.sh: $tool is required" >&2; exit 1; }
done

# --- scratch space and cleanup -----------------------------------------------------------------
WORK=$(mktemp -d -t davgate-bench-auth.XXXXXX)
SERVER_PIDS=()

stop_server() { # PID: SIGTERM, then SIGKILL after 10 s
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "server $pid ignored SIGTERM for 10 s: killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        stop_server "$pid"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build -------------------------------------------------------------------------------------
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
echo "building: cargo build --release --features bench (target dir: $TARGET_DIR)" >&2
CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --features bench --quiet >&2
BIN=$TARGET_DIR/release/davgate
[[ -x $BIN ]] || { echo "bench/auth.sh: no binary at $BIN" >&2; exit 1; }

# --- helpers -----------------------------------------------------------------------------------
SERVER_PID= SERVER_PORT=
start_server() { # NAME [serve flags...]: sets SERVER_PID, SERVER_PORT; data in $WORK/NAME
    local name=$1 i port=
    shift
    local dir=$WORK/$name
    mkdir -p "$dir"
    : >"$dir/stdout"
    RUST_LOG=$LOG_LEVEL "$BIN" --data "$dir/data" serve --listen 127.0.0.1:0 "$@" \
        >"$dir/stdout" 2>"$dir/stderr" &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's|^ *listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$dir/stdout")
        [[ -n $port ]] && break
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server '$name' exited:" >&2
            cat "$dir/stdout" "$dir/stderr" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [[ -z $port ]]; then
        echo "server '$name' did not print its port within 10 s:" >&2
        cat "$dir/stdout" "$dir/stderr" >&2
        exit 1
    fi
    SERVER_PORT=$port
}

admin() { # NAME args...: the admin CLI against server NAME's data dir
    local name=$1
    shift
    RUST_LOG=$LOG_LEVEL "$BIN" --data "$WORK/$name/data" "$@"
}

new_app_password() { # NAME USER LABEL: prints the password
    admin "$1" app-password create "$2" "$3" --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["password"])'
}

basic() { # USER PASSWORD: prints the Authorization header value
    printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"
}

proc_kib() { # PID FIELD: a /proc/PID/status field in KiB
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

mib() { # KiB -> MiB with one decimal
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

cpu_ticks() { # PID: utime + stime in clock ticks
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
CLK_TCK=$(getconf CLK_TCK)

# wrk scripts. count.lua counts responses with the expected status (args[1]); done() prints one
# machine-readable line. rotate.lua adds a request() that sends the Authorization values of a
# file (args[2]) in rotation, one per request, each of the args[3] threads cycling over its own
# slice. (wrk decides whether requests are dynamic from the top-level script before init() runs,
# so request() must be defined at top level: hence two files.)
LUA=$WORK/count.lua
ROTATE_LUA=$WORK/rotate.lua
cat >"$LUA" <<'EOF'
local threads = {}
local nthreads = 0

function setup(thread)
    thread:set("index", nthreads)
    nthreads = nthreads + 1
    table.insert(threads, thread)
end

function init(args)
    expected = tonumber(args[1] or "200")
    ok, other = 0, 0
    if args[2] then
        local all = {}
        for line in io.lines(args[2]) do all[#all + 1] = line end
        local slice = math.floor(#all / tonumber(args[3] or "1"))
        auths = {}
        for i = index * slice + 1, (index + 1) * slice do auths[#auths + 1] = all[i] end
        pos = 0
    end
end

function response(status, headers, body)
    if status == expected then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
    local okt, othert, expected = 0, 0, threads[1]:get("expected")
    for _, t in ipairs(threads) do
        okt = okt + t:get("ok")
        othert = othert + t:get("other")
    end
    local e = summary.errors
    io.write(string.format(
        "BENCH expected=%d ok=%d other=%d requests=%d duration_us=%d timeouts=%d connect=%d read=%d write=%d status=%d p50_ms=%.1f p99_ms=%.1f\n",
        expected, okt, othert, summary.requests, summary.duration, e.timeout, e.connect, e.read,
        e.write, e.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
EOF
cp "$LUA" "$ROTATE_LUA"
cat >>"$ROTATE_LUA" <<'EOF'

function request()
    if not auths then return wrk.format() end -- the main state, where init() never ran
    pos = pos % #auths + 1
    return wrk.format(nil, nil, { ["Authorization"] = auths[pos] })
end
EOF

# put.lua: count.lua sending PUT with a 4 KiB body.
PUT_LUA=$WORK/put.lua
cp "$LUA" "$PUT_LUA"
cat >>"$PUT_LUA" <<'EOF'

wrk.method = "PUT"
wrk.body = string.rep("davgate!", 512)
EOF

# run_wrk LABEL PID URL EXPECTED AUTH|@FILE [SCRIPT]: runs wrk, prints a summary, sets RATE
# (expected responses per second) and keeps wrk's full output in $WORK/wrk-LABEL.txt.
RATE=
run_wrk() {
    local label=$1 pid=$2 url=$3 expected=$4 auth=$5 script=${6:-$LUA}
    local out=$WORK/wrk-$label.txt cpu0 cpu1
    local -a args=(-t"$THREADS" -c"$CONNS" -d"$DURATION" --latency)
    cpu0=$(cpu_ticks "$pid")
    local rc=0
    if [[ $auth == @* ]]; then
        wrk "${args[@]}" -s "$ROTATE_LUA" "$url" -- "$expected" "${auth#@}" "$THREADS" \
            >"$out" 2>&1 || rc=$?
    else
        wrk "${args[@]}" -s "$script" -H "Authorization: $auth" "$url" -- "$expected" \
            >"$out" 2>&1 || rc=$?
    fi
    cpu1=$(cpu_ticks "$pid")
    local line
    if [[ $rc != 0 ]] || ! line=$(grep '^BENCH ' "$out"); then
        echo "wrk failed ($label, exit status $rc):" >&2
        cat "$out" >&2
        exit 1
    fi
    # shellcheck disable=SC2086
    local $(echo "${line#BENCH }")
    RATE=$(awk -v n="$ok" -v us="$duration_us" 'BEGIN { printf "%.1f", n / (us / 1e6) }')
    local cpu_s
    cpu_s=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }')
    local non2xx
    non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' "$out")
    printf '  %-22s %9s %s/s  (%d %s, %d other statuses%s, socket errors: %d timeouts %d connect %d read %d write; p50 %s ms, p99 %s ms; server CPU %s s)\n' \
        "$label" "$RATE" "$expected" "$ok" "$expected" "$other" \
        "${non2xx:+, wrk non-2xx/3xx: $non2xx}" "$timeouts" "$connect" "$read" "$write" \
        "$p50_ms" "$p99_ms" "$cpu_s" >&2
}

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
for ((i = 0; i < DISTINCT_CREDS; i++)); do
    basic alice "$(new_app_password nocache alice "bench-$i")"
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
    run_wrk "put-fsync-r$round" "$PUT_PID" "$PUT_URL" 204 "$PUT_AUTH" "$PUT_LUA"
    FSYNC_RATES+=("$RATE")
    admin put settings set durability fast >/dev/null
    run_wrk "put-fast-r$round" "$PUT_PID" "$PUT_URL" 204 "$PUT_AUTH" "$PUT_LUA"
    FAST_RATES+=("$RATE")
done
PUT_HWM=$(proc_kib "$PUT_PID" VmHWM)
stop_server "$PUT_PID"

# --- 3. wrong-password flood -------------------------------------------------------------------
# Well-formed wrong app passwords: the real public id, another secret and a valid checksum, so
# each is refused only after a full argon2 verification against the real hash.
wrong_passwords() { # REAL_PASSWORD COUNT: prints COUNT distinct wrong passwords
    python3 - "$1" "$2" <<'EOF'
import secrets, sys, zlib
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
real, count = sys.argv[1], int(sys.argv[2])
body = real[len("dgp-"):].replace("-", "")
assert len(body) == 45, real
ident, real_secret = body[:10], body[10:38]
def check(payload):
    crc = zlib.crc32(("dgp" + payload).encode("ascii"))
    return "".join(ALPHABET[(crc >> (5 * i)) & 31] for i in range(6, -1, -1))
assert check(body[:38]) == body[38:], "checksum recipe does not match the real password"
seen = set()
while len(seen) < count:
    secret = "".join(secrets.choice(ALPHABET) for _ in range(28))
    if secret == real_secret or secret in seen:
        continue
    seen.add(secret)
    b = ident + secret + check(ident + secret)
    print("dgp-" + "-".join(b[i:i + 5] for i in range(0, 45, 5)))
EOF
}

flood() { # NAME LABEL AUTH|@FILE: fresh server, flood, sets FLOOD_* figures
    local name=$1 label=$2 auth=$3
    start_server "$name"
    local pid=$SERVER_PID url=http://127.0.0.1:$SERVER_PORT/dav/file4k
    admin "$name" user add alice >/dev/null
    local password
    password=$(new_app_password "$name" alice bench)
    wrong_passwords "$password" 20000 >"$WORK/$name-wrong.txt"
    if [[ $auth == one ]]; then
        auth=$(basic alice "$(head -n1 "$WORK/$name-wrong.txt")")
    else
        python3 -c 'import base64, sys
for p in sys.stdin.read().split():
    print("Basic " + base64.b64encode(("alice:" + p).encode()).decode())' \
            <"$WORK/$name-wrong.txt" >"$WORK/$name-wrong-auths.txt"
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

echo
echo "## davgate benchmark"
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
