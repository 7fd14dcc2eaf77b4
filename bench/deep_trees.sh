#!/usr/bin/env bash
# Deep trees: the server CPU that a chain of nested folders costs (MKCOL of every level, COPY of
# the whole tree, COPY with Overwrite onto that copy, DELETE), for each depth in $LEVELS (served
# with --max-depth set to that depth), and the DELETE of a tree of $PLANTED levels created
# directly on disk, deeper than any limit. Run from anywhere: bench/deep_trees.sh
#
# Bounded: one server at a time on 127.0.0.1:0, every curl has --max-time, everything started
# here is stopped on exit. LEVELS="64 1000" and PLANTED=1000 by default; BIN=path/to/davgate
# skips the release build.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
# shellcheck source=bench/lib.sh
source bench/lib.sh
LEVELS=${LEVELS:-"64 1000"}
PLANTED=${PLANTED:-1000}
bench_init deep
[[ -n ${BIN:-} ]] || build_davgate

seconds() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }'; }

# LABEL CMD...: runs CMD, prints LABEL, its HTTP status and the server CPU it took.
measure() {
    local label=$1 before after code
    shift
    before=$(cpu_ticks "$SERVER_PID")
    code=$("$@")
    after=$(cpu_ticks "$SERVER_PID")
    printf '  %-40s %s  %6s CPU-s\n' "$label" "$code" "$(seconds $((after - before)))"
}

dav() { # METHOD PATH [curl args...]: prints the status
    local method=$1 path=$2
    shift 2
    curl -s -o /dev/null -w '%{http_code}' --max-time 300 -u "alice:$PW" -X "$method" \
        "http://127.0.0.1:$SERVER_PORT/dav/$path" "$@"
}

mkcol_chain() { # ROOT LEVELS: MKCOL ROOT, ROOT/d, ROOT/d/d... (LEVELS folders); prints the last status
    local path=$1 i code=
    code=$(dav MKCOL "$path")
    for ((i = 2; i <= $2; i++)); do
        path+=/d
        code=$(dav MKCOL "$path")
    done
    echo "$code"
}

for n in $LEVELS; do
    start_server "depth$n" --max-depth "$n"
    admin "depth$n" user add alice >/dev/null
    PW=$(new_app_password "depth$n" alice bench)
    echo "tree of $n levels (--max-depth $n):"
    measure "MKCOL x$n" mkcol_chain t "$n"
    measure "COPY /dav/t -> /dav/c" dav COPY t -H "Destination: /dav/c"
    measure "COPY onto the copy (Overwrite: T)" dav COPY t -H "Destination: /dav/c" -H "Overwrite: T"
    measure "DELETE /dav/c" dav DELETE c
    measure "DELETE /dav/t" dav DELETE t
    stop_server "$SERVER_PID"
done

start_server planted
admin planted user add alice >/dev/null
PW=$(new_app_password planted alice bench)
dav PROPFIND "" -H "Depth: 0" >/dev/null # creates the home
python3 - "$WORK/planted/data/files/alice" "$PLANTED" <<'PY'
import os, sys
os.chdir(sys.argv[1])
for _ in range(int(sys.argv[2])):
    os.mkdir("p")
    os.chdir("p")
open("deep.txt", "w").write("deep")
PY
echo "tree of $PLANTED levels planted on disk (--max-depth default):"
measure "DELETE /dav/p" dav DELETE p
left=$(find "$WORK/planted/data/files/alice" -mindepth 1 | wc -l)
echo "  entries left in the home: $left"
