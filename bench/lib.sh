# shellcheck shell=bash disable=SC2034  # globals set here are read by the sourcing scripts
# Helpers shared by bench/run.sh and bench/compare.sh. Source it from the repository root after
# `set -euo pipefail`; it defines functions and a few globals, and starts nothing by itself.
#
#   bench_install CMD:PACKAGE...  installs the missing Debian packages (apt-get, sudo when not root)
#   apt_install PACKAGE...        installs these Debian packages
#   bench_init NAME               scratch dir $WORK, cleanup on exit (servers stopped, $WORK removed)
#   build_davgate                 release build with --features bench (or $BENCH_BIN); sets BIN
#   build_baseline REV            the same build of git revision REV; sets BASELINE_BIN
#   start_server NAME [flags]     a davgate on 127.0.0.1:0, data in $WORK/NAME/data
#   run_wrk [options] LABEL PID URL EXPECTED AUTH|@FILE
#                                 one wrk run counting only the expected statuses; sets RATE...
#   make_cert DIR                 a self-signed certificate for 127.0.0.1: DIR/cert.pem, key.pem
#   first_line CMD...             CMD's first line of output (no SIGPIPE under pipefail)
#   save_section SCRIPT REPORT    puts the Markdown file REPORT into $BENCH_RESULTS (default
#                                 bench/RESULTS.md; empty: nowhere) between SCRIPT's own markers
#
# Everything listens on 127.0.0.1 only; every process registered with track_pid is stopped on exit.

LOG_LEVEL=${LOG_LEVEL:-warn} # RUST_LOG for every davgate started here
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
CLK_TCK=$(getconf CLK_TCK)

# --- tools ------------------------------------------------------------------------------------
bench_install() { # CMD:PACKAGE...: apt-get installs PACKAGE for every CMD not on the PATH
    local spec missing=()
    for spec in "$@"; do
        # /usr/sbin (apache2) is not on every user's PATH
        command -v "${spec%%:*}" >/dev/null || [[ -x /usr/sbin/${spec%%:*} ]] ||
            missing+=("${spec#*:}")
    done
    ((${#missing[@]})) || return 0
    apt_install "${missing[@]}"
}

apt_install() { # PACKAGE...: installs Debian packages (apt-get, sudo when not root)
    local sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    echo "installing $*..." >&2
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >&2
}

# --- scratch space and cleanup -----------------------------------------------------------------
WORK='' SERVER_PIDS=()

track_pid() { SERVER_PIDS+=("$1"); } # PID: stopped by cleanup on exit

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

CLEANUPS=() # commands run on exit after the servers stop (e.g. a throwaway PostgreSQL)

bench_cleanup() {
    local pid cleanup
    for pid in "${SERVER_PIDS[@]}"; do
        stop_server "$pid"
    done
    for cleanup in "${CLEANUPS[@]}"; do
        eval "$cleanup" || true
    done
    [[ -z $WORK ]] || rm -rf "$WORK"
}

bench_init() { # NAME: creates $WORK and installs the traps
    WORK=$(mktemp -d -t "davgate-bench-$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    write_lua
}

# --- davgate -------------------------------------------------------------------------------------
build_davgate() { # sets BIN: $BENCH_BIN when given (a release build with --features bench)
    if [[ -n ${BENCH_BIN:-} ]]; then
        BIN=$BENCH_BIN
        [[ -x $BIN ]] || { echo "bench: BENCH_BIN=$BIN is not an executable" >&2; exit 1; }
        return 0
    fi
    local target_dir=${CARGO_TARGET_DIR:-$REPO/target}
    echo "building: cargo build --release --features bench (target dir: $target_dir)" >&2
    CARGO_TARGET_DIR=$target_dir cargo build --release --features bench --quiet >&2
    BIN=$target_dir/release/davgate
    [[ -x $BIN ]] || { echo "bench: no binary at $BIN" >&2; exit 1; }
}

# A server NAME runs ${BIN_FOR[NAME]} when set (an older build beside this one), else $BIN, and
# on the store ${STORE_FOR[NAME]} when set (a PostgreSQL URL), else its embedded redb file.
declare -A BIN_FOR=() STORE_FOR=()

build_baseline() { # REV: release build of git revision REV (its tree, not a worktree); sets BASELINE_BIN
    local rev=$1 target_dir=${BENCH_BASELINE_TARGET:-$REPO/target/bench-baseline} commit src
    commit=$(git -C "$REPO" rev-parse --verify "$rev^{commit}")
    # Kept beside its build, at a path that names the commit: a second run rebuilds nothing.
    src=$target_dir/src-$commit
    if [[ ! -d $src ]]; then
        mkdir -p "$src.partial"
        git -C "$REPO" archive "$commit" | tar -x -C "$src.partial"
        mv "$src.partial" "$src"
    fi
    echo "building baseline $rev: cargo build --release --features bench (target dir: $target_dir)" >&2
    CARGO_TARGET_DIR=$target_dir cargo build --release --features bench --quiet \
        --manifest-path "$src/Cargo.toml" >&2
    BASELINE_BIN=$target_dir/release/davgate
    [[ -x $BASELINE_BIN ]] || { echo "bench: no baseline binary at $BASELINE_BIN" >&2; exit 1; }
}

SERVER_PID='' SERVER_PORT=''
# start_server listens on $SERVER_HOST (default 127.0.0.1) and expects $SERVER_SCHEME (http,
# or https when given --tls-cert): set them for one call, e.g. SERVER_HOST=127.0.0.2 start_server.
start_server() { # NAME [serve flags...]: sets SERVER_PID, SERVER_PORT; data in $WORK/NAME/data
    local name=$1 i port='' host=${SERVER_HOST:-127.0.0.1} scheme=${SERVER_SCHEME:-http}
    shift
    local dir=$WORK/$name
    mkdir -p "$dir"
    : >"$dir/stdout"
    DAVGATE_STORE=${STORE_FOR[$name]:-} RUST_LOG=$LOG_LEVEL "${BIN_FOR[$name]:-$BIN}" --data "$dir/data" serve --listen "$host:0" "$@" \
        >"$dir/stdout" 2>"$dir/stderr" &
    SERVER_PID=$!
    track_pid "$SERVER_PID"
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n "s|^ *listening on $scheme://${host//./\\.}:\([0-9]*\)\$|\1|p" "$dir/stdout")
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
    DAVGATE_STORE=${STORE_FOR[$name]:-} RUST_LOG=$LOG_LEVEL "${BIN_FOR[$name]:-$BIN}" --data "$WORK/$name/data" "$@"
}

new_app_password() { # NAME USER LABEL: prints the password
    admin "$1" app-password create "$2" "$3" --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["password"])'
}

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

basic_lines() { # USER < passwords: one Authorization value per line
    python3 -c 'import base64, sys
for p in sys.stdin.read().split():
    print("Basic " + base64.b64encode((sys.argv[1] + ":" + p).encode()).decode())' "$1"
}

# --- small helpers -------------------------------------------------------------------------------
first_line() { # CMD...: the first line CMD prints (stdout and stderr), whatever its exit status
    # (`wrk -v` exits 1). Not `CMD | head -n1`: under pipefail that fails at random, since head
    # exits after one line and CMD, still writing, gets SIGPIPE (why a run could end before its
    # report: `rclone version | head -n1`).
    { "$@" 2>&1 || true; } | sed -n 1p
}

make_cert() { # DIR: a self-signed RSA certificate for 127.0.0.1, DIR/cert.pem and DIR/key.pem
    # (readable by all: Apache's and nginx's workers may run as www-data)
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
    chmod 644 "$1/key.pem" "$1/cert.pem"
}

basic() { # USER PASSWORD: prints the Authorization header value
    printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"
}

free_port() { # prints a port free on 127.0.0.1 right now (for servers that cannot take port 0)
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() { # NAME PID URL: waits up to 10 s until URL answers anything over HTTP
    local name=$1 pid=$2 url=$3 i
    for ((i = 0; i < 100; i++)); do
        curl -sk -o /dev/null --max-time 1 "$url" && return 0
        kill -0 "$pid" 2>/dev/null || { echo "server '$name' exited" >&2; return 1; }
        sleep 0.1
    done
    echo "server '$name' did not answer $url within 10 s" >&2
    return 1
}

proc_kib() { # PID FIELD: a /proc/PID/status field in KiB
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

mib() { # KiB -> MiB with one decimal
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

tree_pids() { # PID: PID and all its descendants (Apache's workers are children of its parent)
    local pid=$1 child
    echo "$pid"
    for child in $(pgrep -P "$pid" || true); do
        tree_pids "$child"
    done
}

tree_kib() { # PID FIELD: a /proc/*/status field summed over the process tree, in KiB
    local pid sum=0 v
    for pid in $(tree_pids "$1"); do
        v=$(proc_kib "$pid" "$2" 2>/dev/null || true)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

tree_pss_kib() { # PID: proportional set size summed over the process tree, in KiB
    local pid sum=0 v
    for pid in $(tree_pids "$1"); do
        v=$(awk '$1 == "Pss:" { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

cpu_ticks() { # PID: CPU time of the process tree in clock ticks (utime + stime of every live
    # process, plus cutime + cstime of the root for children it has already reaped)
    local root=$1 pid sum=0 v
    for pid in $(tree_pids "$root"); do
        v=$(awk -v root=$((pid == root)) '{ sub(/^.*\) /, ""); print $12 + $13 + (root ? $14 + $15 : 0) }' \
            "/proc/$pid/stat" 2>/dev/null || true)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

# --- wrk -----------------------------------------------------------------------------------------
# wrk scripts, all printing one machine-readable BENCH line from done(). args[1]: the expected
# statuses ("200", "2xx" or a list such as "401,429"); args[2]: the method (default GET); args[3]: a
# file holding the request body; args[4], args[5]: see rotate.lua.
# - count.lua counts responses whose status is expected and keeps a histogram of all statuses.
# - rotate.lua is count.lua plus a request() that sends the Authorization values of a file
#   (args[4]) in rotation, one per request, each of the args[5] threads cycling over its own slice.
#   (wrk decides whether requests are dynamic from the top-level script before init() runs, so
#   request() must be defined at top level: hence separate files.)
# - bulk.lua defines no response(): with one, wrk copies every body into a Lua string, which for
#   a 64 MiB GET or an 800 kB PROPFIND answer costs the client more than the server spends. It
#   counts as expected every answer wrk does not count as an error (status < 400), so there is
#   no histogram.
LUA='' ROTATE_LUA='' BULK_LUA=''
write_lua() {
    LUA=$WORK/count.lua
    ROTATE_LUA=$WORK/rotate.lua
    BULK_LUA=$WORK/bulk.lua
    cat >"$BULK_LUA" <<'EOF'
local threads = {}
local nthreads = 0

function setup(thread)
    thread:set("index", nthreads)
    nthreads = nthreads + 1
    table.insert(threads, thread)
end

function init(args)
    expected = args[1] or "200"
    local lo = expected:match("^(%d)xx$")
    accept = {}
    if lo then
        for s = tonumber(lo) * 100, tonumber(lo) * 100 + 99 do accept[s] = true end
    else
        for s in expected:gmatch("%d+") do accept[tonumber(s)] = true end
    end
    if args[2] and args[2] ~= "" then wrk.method = args[2] end
    if args[3] and args[3] ~= "" then
        local f = assert(io.open(args[3], "rb"))
        wrk.body = f:read("*a")
        f:close()
    end
    ok, other, counts = 0, 0, {}
    if args[4] and args[4] ~= "" then
        local all = {}
        for line in io.lines(args[4]) do all[#all + 1] = line end
        local slice = math.floor(#all / tonumber(args[5] or "1"))
        auths = {}
        for i = index * slice + 1, (index + 1) * slice do auths[#auths + 1] = all[i] end
        pos = 0
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    local okt, othert, hist = summary.requests - e.status, e.status, "n/a"
    if response then
        local all, codes, parts = {}, {}, {}
        okt, othert = 0, 0
        for _, t in ipairs(threads) do
            okt = okt + t:get("ok")
            othert = othert + t:get("other")
            for status, n in pairs(t:get("counts")) do all[status] = (all[status] or 0) + n end
        end
        for status in pairs(all) do codes[#codes + 1] = status end
        table.sort(codes)
        for _, status in ipairs(codes) do parts[#parts + 1] = status .. ":" .. all[status] end
        hist = table.concat(parts, ",")
    end
    io.write(string.format(
        "BENCH expected=%s ok=%d other=%d requests=%d bytes=%d duration_us=%d timeouts=%d connect=%d read=%d write=%d status=%d p50_ms=%.1f p99_ms=%.1f statuses=%s\n",
        threads[1]:get("expected"), okt, othert, summary.requests, summary.bytes, summary.duration,
        e.timeout, e.connect, e.read, e.write, e.status, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, hist))
end
EOF
    cp "$BULK_LUA" "$LUA"
    cat >>"$LUA" <<'EOF'

function response(status, headers, body)
    if accept[status] then ok = ok + 1 else other = other + 1 end
    counts[status] = (counts[status] or 0) + 1
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
}

# wrk_parse FILE: reads the BENCH line of a wrk output into globals: OK OTHER REQUESTS BYTES
# DURATION_US P50_MS P99_MS STATUSES SOCKET_ERRORS (text), RATE (expected responses per second)
# and MBPS (bytes read per second, in 10^6 bytes, whatever the status).
wrk_parse() {
    local line
    line=$(grep '^BENCH ' "$1") || return 1
    local expected ok other requests bytes duration_us timeouts connect read write status \
        p50_ms p99_ms statuses
    # shellcheck disable=SC2086 # the line is key=value words without spaces: split on purpose
    local ${line#BENCH }
    OK=$ok OTHER=$other REQUESTS=$requests BYTES=$bytes DURATION_US=$duration_us
    P50_MS=$p50_ms P99_MS=$p99_ms STATUSES=$statuses
    SOCKET_ERRORS="timeouts $timeouts connect $connect read $read write $write"
    RATE=$(awk -v n="$ok" -v us="$duration_us" 'BEGIN { printf "%.1f", n / (us / 1e6) }')
    MBPS=$(awk -v b="$bytes" -v us="$duration_us" 'BEGIN { printf "%.1f", b / 1e6 / (us / 1e6) }')
}

# run_wrk [-m METHOD] [-b BODY_FILE] [-H HEADER]... [-t THREADS] [-c CONNS] [-d DURATION]
#         [-T TIMEOUT] [-q] LABEL PID URL EXPECTED AUTH|@FILE
# (-q: bulk.lua, for large answers: every status below 400 counts, no histogram)
# Runs wrk against URL with one Authorization header (or the values of FILE in rotation), prints
# a summary line to stderr with the server's CPU time (PID's process tree), sets the wrk_parse
# globals plus CPU_S, and keeps wrk's full output in $WORK/wrk-LABEL.txt.
RATE='' MBPS='' CPU_S=''
run_wrk() {
    local method='' body='' threads=$THREADS conns=$CONNS duration=${DURATION:-10s} timeout=2s opt
    local script=$LUA
    local -a headers=()
    local OPTIND=1
    while getopts 'm:b:H:t:c:d:T:q' opt; do
        case $opt in
        m) method=$OPTARG ;;
        b) body=$OPTARG ;;
        H) headers+=(-H "$OPTARG") ;;
        t) threads=$OPTARG ;;
        c) conns=$OPTARG ;;
        d) duration=$OPTARG ;;
        T) timeout=$OPTARG ;;
        q) script=$BULK_LUA ;;
        *) echo "run_wrk: bad option" >&2; exit 2 ;;
        esac
    done
    shift $((OPTIND - 1))
    local label=$1 pid=$2 url=$3 expected=$4 auth=$5
    local out=$WORK/wrk-$label.txt cpu0 cpu1 rc=0
    local -a args=(-t"$threads" -c"$conns" -d"$duration" --timeout "$timeout" --latency)
    cpu0=$(cpu_ticks "$pid")
    if [[ $auth == @* ]]; then
        wrk "${args[@]}" "${headers[@]}" -s "$ROTATE_LUA" "$url" -- \
            "$expected" "$method" "$body" "${auth#@}" "$threads" >"$out" 2>&1 || rc=$?
    else
        wrk "${args[@]}" "${headers[@]}" -H "Authorization: $auth" -s "$script" "$url" -- \
            "$expected" "$method" "$body" >"$out" 2>&1 || rc=$?
    fi
    cpu1=$(cpu_ticks "$pid")
    if [[ $rc != 0 ]] || ! wrk_parse "$out"; then
        echo "wrk failed ($label, exit status $rc):" >&2
        cat "$out" >&2
        exit 1
    fi
    CPU_S=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }')
    printf '  %-24s %9s %s/s  %8s MB/s  (%d %s, %d other; statuses %s; socket errors: %s; p50 %s ms, p99 %s ms; server CPU %s s)\n' \
        "$label" "$RATE" "$expected" "$MBPS" "$OK" "$expected" "$OTHER" "${STATUSES:-none}" \
        "$SOCKET_ERRORS" "$P50_MS" "$P99_MS" "$CPU_S" >&2
}

# --- bench/RESULTS.md ----------------------------------------------------------------------------
# Every script writes its own section of the results file, between two markers that name it:
#   <!-- bench/NAME.sh: begin --> ... <!-- bench/NAME.sh: end -->
# A rerun replaces that section and nothing else; a script whose markers are not there yet adds
# its section at the end. So the file holds only what the scripts printed.
save_section() { # SCRIPT REPORT: SCRIPT (e.g. bench/run.sh) names the section; REPORT is Markdown
    local file=${BENCH_RESULTS-$REPO/bench/RESULTS.md}
    [[ -n $file ]] || return 0
    [[ -f $file ]] || printf '# Benchmark results\n' >"$file"
    python3 - "$file" "$2" "<!-- $1: begin -->" "<!-- $1: end -->" <<'EOF'
import sys
path, report, begin, end = sys.argv[1:]
text = open(path).read()
block = begin + "\n" + open(report).read().strip("\n") + "\n" + end
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + block + rest.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w").write(text)
EOF
    echo "saved into $file" >&2
}
