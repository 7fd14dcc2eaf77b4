#!/usr/bin/env bash
# Files on S3 beside files on the local disk (issue 12): one davgate build, two servers on one
# PostgreSQL store, run side by side in interleaved rounds: GET 4 KiB (req/s), GET 64 MiB (MB/s),
# PUT 4 KiB (req/s) and PROPFIND Depth 1 on a folder of 1,000 files (req/s), with the ratios
# S3 / disk. Then, on a fresh S3 node: 4 concurrent 200 MiB uploads and 4 concurrent 200 MiB
# downloads, with the node's peak RSS (VmHWM) against the 64 MiB goal. The S3 server is moto's
# (target/moto-venv, as the tests use it), on loopback: it measures davgate's overhead, not a
# real object store's latency. The S3 node is seeded with `davgate files copy`, timed too.
#
# Usage (from the repo root):   bench/s3.sh
#   BENCH_BIN         the davgate binary (default: target/release/davgate; this script does not build)
#   BENCH_DURATION    wrk duration per run (default: 5s)
#   BENCH_ROUNDS      rounds over both servers (default: 3)
#   BENCH_BIG_MIB     size of each concurrent upload/download in MiB (default: 200)
#   BENCH_FILES       files in the PROPFIND folder (default: 1000)
#   BENCH_MOTO        moto_server (default: target/moto-venv/bin/moto_server)
#   BENCH_RESULTS     file whose s3 section gets the report (default: bench/RESULTS.md; empty: none)
#
# Everything binds 127.0.0.1 on a free port, lives under one mktemp -d removed on exit, and is
# stopped by its PID (PostgreSQL by its postmaster.pid) within bounded time.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
BIN=${BENCH_BIN:-$REPO/target/release/davgate}
DURATION=${BENCH_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-3}
BIG_MIB=${BENCH_BIG_MIB:-200}
NFILES=${BENCH_FILES:-1000}
MOTO=${BENCH_MOTO:-$REPO/target/moto-venv/bin/moto_server}
RESULTS=${BENCH_RESULTS-bench/RESULTS.md}
THREADS=2
CONNS=32
BIG_CONNS=4 # GET 64 MiB: four at once (moto serves from one Python process)
LOG_LEVEL=warn
GOAL_MIB=64

# shellcheck source=bench/lib.sh
source bench/lib.sh
[[ -x $BIN ]] || { echo "bench/s3.sh: no davgate at $BIN (cargo build --release, or BENCH_BIN=…)" >&2; exit 1; }
[[ -x $MOTO ]] || { echo "bench/s3.sh: no moto at $MOTO (run .ci/run, or BENCH_MOTO=…)" >&2; exit 1; }
bench_install wrk:wrk curl:curl
bench_init s3
chmod 711 "$WORK" # PostgreSQL runs as its own user when we are root

# --- PostgreSQL and moto -----------------------------------------------------------------------
STORE=$(timeout 120 "$REPO/.ci/postgres" start "$WORK/pg")
CLEANUPS+=("timeout 60 '$REPO/.ci/postgres' stop '$WORK/pg'")
MOTO_PORT=$(free_port)
"$MOTO" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
track_pid "$MOTO_PID"
wait_http moto "$MOTO_PID" "http://127.0.0.1:$MOTO_PORT/"
curl -sf -X PUT "http://127.0.0.1:$MOTO_PORT/bench" >/dev/null
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
BUCKET="s3://bench/files?endpoint=http://127.0.0.1:$MOTO_PORT&region=us-east-1"
STORE_FOR[disk]=$STORE STORE_FOR[s3]=$STORE STORE_FOR[s3mem]=$STORE

# --- data: the disk node's home, copied into the bucket ------------------------------------------
HOME_DIR=$WORK/disk/data/files/alice
mkdir -p "$HOME_DIR/many"
head -c 4096 /dev/urandom >"$HOME_DIR/file4k"
head -c $((64 << 20)) /dev/urandom >"$HOME_DIR/file64m"
head -c 4096 /dev/urandom >"$WORK/body4k"
for ((i = 0; i < NFILES; i++)); do printf 'file %d\n' "$i" >"$HOME_DIR/many/f$i.txt"; done
head -c $((BIG_MIB << 20)) /dev/urandom >"$WORK/big"

declare -A PID URL AUTH RES
start_server disk --store "$STORE"
PID[disk]=$SERVER_PID URL[disk]=http://127.0.0.1:$SERVER_PORT/dav/
admin disk user add alice >/dev/null
PASSWORD=$(new_app_password disk alice bench)
AUTH[disk]=$(basic alice "$PASSWORD")
chmod -R go-rwx "$WORK/disk/data/files"

echo "copying the disk node's files into the bucket (davgate files copy)" >&2
copy_start=$(date +%s.%N)
timeout 600 "$BIN" --data "$WORK/disk/data" --store "$STORE" files copy \
    --from "$WORK/disk/data/files" --to "$BUCKET" >"$WORK/copy.out" 2>"$WORK/copy.err"
COPY_S=$(awk -v a="$copy_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
COPY_SUMMARY=$(tail -n 1 "$WORK/copy.out")
start_server s3 --store "$STORE" --files "$BUCKET"
PID[s3]=$SERVER_PID URL[s3]=http://127.0.0.1:$SERVER_PORT/dav/
AUTH[s3]=$(basic alice "$PASSWORD")
for key in disk s3; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: ${AUTH[$key]}" "${URL[$key]}file4k")
    [[ $code == 200 ]] || { echo "$key: GET file4k answered $code" >&2; cat "$WORK/$key/stderr" >&2; exit 1; }
done

# --- interleaved rounds --------------------------------------------------------------------------
for ((r = 1; r <= ROUNDS; r++)); do
    for key in disk s3; do
        echo "round $r/$ROUNDS, $key" >&2
        run_wrk "get4k-$key-$r" "${PID[$key]}" "${URL[$key]}file4k" 200 "${AUTH[$key]}"
        RES[get4k,$key,$r]=$RATE
        run_wrk -q -c "$BIG_CONNS" -T 30s "get64m-$key-$r" "${PID[$key]}" "${URL[$key]}file64m" 200 "${AUTH[$key]}"
        RES[get64m,$key,$r]=$MBPS
        run_wrk -m PUT -b "$WORK/body4k" "put4k-$key-$r" "${PID[$key]}" "${URL[$key]}put4k" 2xx "${AUTH[$key]}"
        RES[put4k,$key,$r]=$RATE
        run_wrk -q -m PROPFIND -H "Depth: 1" -c 4 -T 30s "propfind-$key-$r" "${PID[$key]}" \
            "${URL[$key]}many/" 207 "${AUTH[$key]}"
        RES[propfind,$key,$r]=$RATE
    done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
med() { # TEST KEY
    local r values=()
    for ((r = 1; r <= ROUNDS; r++)); do values+=("${RES[$1,$2,$r]}"); done
    median "${values[@]}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }

# --- memory: 4 × BIG_MIB up and down on a fresh S3 node ------------------------------------------
echo "memory: 4 concurrent ${BIG_MIB} MiB uploads, then downloads, on a fresh S3 node" >&2
start_server s3mem --store "$STORE" --files "$BUCKET"
PID[s3mem]=$SERVER_PID URL[s3mem]=http://127.0.0.1:$SERVER_PORT/dav/
parallel_curl() { # up|down: four transfers at once, each bounded in time; prints the seconds
    local dir=$1 i pids=() rc=0 start
    start=$(date +%s.%N)
    for i in 1 2 3 4; do
        if [[ $dir == up ]]; then
            curl -sf --max-time 600 -o /dev/null -H "Authorization: ${AUTH[s3]}" -T "$WORK/big" "${URL[s3mem]}big$i.bin" &
        else
            curl -sf --max-time 600 -o /dev/null -H "Authorization: ${AUTH[s3]}" "${URL[s3mem]}big$i.bin" &
        fi
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || rc=1; done
    [[ $rc == 0 ]] || { echo "a ${dir}load failed" >&2; cat "$WORK/s3mem/stderr" >&2; exit 1; }
    awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}
BASE_KIB=$(proc_kib "${PID[s3mem]}" VmHWM)
UP_S=$(parallel_curl up)
UP_KIB=$(proc_kib "${PID[s3mem]}" VmHWM)
DOWN_S=$(parallel_curl down)
DOWN_KIB=$(proc_kib "${PID[s3mem]}" VmHWM)
mbps() { awk -v s="$1" -v m="$BIG_MIB" 'BEGIN { printf "%.1f", (s > 0 ? 4 * m * 1.048576 / s : 0) }'; }
verdict() { awk -v k="$1" -v g="$GOAL_MIB" 'BEGIN { print (k / 1024 <= g ? "met" : "missed") }'; }

# --- report --------------------------------------------------------------------------------------
{
    echo "## Files on S3 beside the local disk (bench/s3.sh)"
    echo
    echo "$(date -u +%Y-%m-%d), $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'), binary $BIN;"
    echo "$ROUNDS interleaved rounds of $DURATION per test (wrk $THREADS threads, $CONNS connections; 64 MiB GETs $BIG_CONNS, PROPFIND 4);"
    echo "both servers on one PostgreSQL store, the S3 one on moto 5.2.5 over loopback. Medians of the rounds."
    echo
    echo "| test | local disk | S3 (moto) | S3 / disk |"
    echo "|---|---|---|---|"
    for t in "get4k:GET 4 KiB, req/s" "get64m:GET 64 MiB, MB/s" "put4k:PUT 4 KiB, req/s" "propfind:PROPFIND Depth 1 on $NFILES files, req/s"; do
        d=$(med "${t%%:*}" disk) s=$(med "${t%%:*}" s3)
        echo "| ${t#*:} | $d | $s | $(ratio "$s" "$d") |"
    done
    echo
    echo "Seeding: \`davgate files copy\` of the disk home into the bucket took $COPY_S s ($COPY_SUMMARY)."
    echo
    echo "Memory of a fresh S3 node (VmHWM, goal ≤ $GOAL_MIB MiB):"
    echo
    echo "| phase | time | throughput | peak RSS (VmHWM) | goal |"
    echo "|---|---|---|---|---|"
    echo "| started, idle | | | $(mib "$BASE_KIB") MiB | $(verdict "$BASE_KIB") |"
    echo "| 4 concurrent $BIG_MIB MiB PUTs | $UP_S s | $(mbps "$UP_S") MB/s | $(mib "$UP_KIB") MiB | $(verdict "$UP_KIB") |"
    echo "| then 4 concurrent $BIG_MIB MiB GETs | $DOWN_S s | $(mbps "$DOWN_S") MB/s | $(mib "$DOWN_KIB") MiB | $(verdict "$DOWN_KIB") |"
} >"$WORK/report.md"
cat "$WORK/report.md"

save_report() { # FILE: replaces this script's section of FILE (or adds it at the end)
    local file=$1 begin='<!-- bench/s3.sh: begin -->' end='<!-- bench/s3.sh: end -->'
    [[ -f $file ]] || printf '# Benchmark results\n' >"$file"
    python3 - "$file" "$WORK/report.md" "$begin" "$end" <<'EOF'
import sys
path, report, begin, end = sys.argv[1:]
text = open(path).read()
block = begin + "\n" + open(report).read().rstrip("\n") + "\n" + end
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + block + rest.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w").write(text)
EOF
    echo "saved into $file" >&2
}
[[ -z $RESULTS ]] || save_report "$RESULTS"
