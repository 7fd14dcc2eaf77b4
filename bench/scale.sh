#!/usr/bin/env bash
# davgate's cost curves (issue 16): how the cost of serving grows with what a server holds.
#   listing  PROPFIND Depth 1 (allprop) of a folder of 100 / 1,000 / 10,000 / 100,000 files: the
#            time per answer and the server's peak RSS (a fresh server per size)
#   auth     10 / 1,000 / 10,000 users (one app password each), then 100,000 app passwords: the
#            first request of a new app password (argon2 included) and the cached req/s (wrk
#            GET 4 KiB: one password, and 10 users' passwords in rotation), with peak RSS and the
#            store's size (one server, grown step by step)
#   idle     100 / 1,000 / 10,000 idle kept-alive connections: bench/idle-connections.sh (owned
#            by the connections work: called, not changed), its table parsed
#   props    the store after 10,000 / 100,000 / 1,000,000 dead properties (PROPPATCH, 1,000 per
#            request; 10,000 per account, an account's budget, so 1,000,000 over 100): the store file's size, how long the CLI takes to open it with the server
#            stopped, how long the server takes to start on it, a Depth 0 PROPFIND of a file
#            holding 1,000 of them
# Prints a Markdown report, saves it into its section of bench/RESULTS.md and draws the curves
# as a PNG (matplotlib, pinned, in a venv under target/).
#
# Usage (from the repo root):   bench/scale.sh
#   BENCH_BIN            a davgate release binary built with --features bench (default: build one)
#   BENCH_DURATION       wrk duration of each cached req/s run (default: 10s)
#   BENCH_RESULTS        file whose scale section gets the report (default: bench/RESULTS.md;
#                        empty: do not save)
#   SCALE_PARTS          which curves (default: listing auth idle props)
#   SCALE_ENTRIES        folder sizes (default: 100 1000 10000 100000)
#   SCALE_REPEAT         PROPFINDs per folder size, median reported (default: 5)
#   SCALE_USERS          user counts (default: 10 1000 10000)
#   SCALE_APP_PASSWORDS  app passwords in all at the last auth step (default: 100000; 0: no step)
#   SCALE_FIRST          new app passwords whose first request is timed per step (default: 5)
#   SCALE_CONNS          idle connection counts (default: 100,1000,10000)
#   SCALE_PROPS          dead property counts (default: 10000 100000 1000000)
#   SCALE_SMALL          1: a trial run in about 3 minutes: SCALE_ENTRIES="100 1000",
#                        SCALE_USERS="10 100", SCALE_APP_PASSWORDS=300, SCALE_CONNS=100,300,
#                        SCALE_PROPS="2000 10000", SCALE_REPEAT=3, BENCH_DURATION=2s (each
#                        still overridable)
#   SCALE_PLOT           where the PNG goes (default: bench/scale.png; empty: no plot)
#
# The full run takes about 30 minutes on 2 quiet cores, 20 of them seeding the auth part (about
# 110,000 argon2 hashes, ~20 ms each on the server's two argon2 threads). Everything listens on 127.0.0.1; every process started
# here is stopped on exit and all data lives under one mktemp -d removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)

SMALL=${SCALE_SMALL:-0}
small() { # DEFAULT SMALL_DEFAULT: the default for a full run or a SCALE_SMALL one
    if [[ $SMALL == 1 ]]; then echo "$2"; else echo "$1"; fi
}
DURATION=${BENCH_DURATION:-$(small 10s 2s)}
read -r -a PARTS <<<"${SCALE_PARTS:-listing auth idle props}"
read -r -a ENTRIES <<<"${SCALE_ENTRIES:-$(small "100 1000 10000 100000" "100 1000")}"
REPEAT=${SCALE_REPEAT:-$(small 5 3)}
read -r -a USERS <<<"${SCALE_USERS:-$(small "10 1000 10000" "10 100")}"
APP_PASSWORDS=${SCALE_APP_PASSWORDS:-$(small 100000 300)}
FIRST=${SCALE_FIRST:-5}
CONN_STEPS=${SCALE_CONNS:-$(small 100,1000,10000 100,300)}
read -r -a PROPS <<<"${SCALE_PROPS:-$(small "10000 100000 1000000" "2000 10000")}"
PROPS_PER_FILE=1000
PROPS_PER_USER=10000 # one account's dead-property budget: PropLimits::count, src/store/props.rs
PLOT=${SCALE_PLOT-bench/scale.png}
MATPLOTLIB=matplotlib==3.10.7 # pinned: the plot's look does not change under the lead's feet
PLOT_VENV=$REPO/target/plot-venv
ROTATE_USERS=10 # users whose cached passwords the rotation run cycles through
THREADS=2
CONNS=32
LOG_LEVEL=warn

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_install wrk:wrk curl:curl openssl:openssl # openssl: bench/idle-connections.sh's certificate
if [[ -n $PLOT ]] && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3-venv # Debian's python3 has no ensurepip without it
fi
bench_init scale
build_davgate
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
CURVES=$WORK/curves # one TSV per curve, read by the report and the plot
mkdir -p "$CURVES"
head -c 4096 /dev/urandom >"$WORK/file4k"
printf '<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>\n' \
    >"$WORK/allprop.xml"

part() { [[ " ${PARTS[*]} " == *" $1 "* ]]; } # NAME: true if this run draws that curve
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
now_ms() { date +%s%3N; }
fmt() { # NUMBER: rounded, with thousands separators
    awk -v n="$1" 'BEGIN { s = sprintf("%.0f", n); o = ""; while (length(s) > 3) {
        o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'
}
socket_of() { echo "$WORK/$1/data/admin.sock"; } # NAME: its admin socket

new_server() { # NAME [serve flags]: alice with an app password, file4k in her home; sets URL, AUTH
    local name=$1
    shift
    admin "$name" user add alice >/dev/null
    local password
    password=$(new_app_password "$name" alice bench)
    mkdir -p "$WORK/$name/data/files/alice"
    cp "$WORK/file4k" "$WORK/$name/data/files/alice/"
    start_server "$name" "$@"
    URL=http://127.0.0.1:$SERVER_PORT/dav/
    AUTH=$(basic alice "$password")
}

# --- listing: PROPFIND time and peak RSS against the folder's size --------------------------------
listing_curve() {
    local n name dir code hrefs idle i out
    echo "listing: PROPFIND Depth 1 allprop, ${ENTRIES[*]} entries, $REPEAT requests each" >&2
    for n in "${ENTRIES[@]}"; do
        name=list-$n
        dir=$WORK/$name/data/files/alice/folder
        python3 bench/scale.py tree "$dir" 0 "$n"
        new_server "$name"
        idle=$(proc_kib "$SERVER_PID" VmHWM)
        out=$WORK/$name-answer.xml
        code=$(curl -sS -o "$out" -w '%{http_code}' -X PROPFIND -H 'Depth: 1' -H "Authorization: $AUTH" \
            -H 'Content-Type: application/xml; charset=utf-8' --data-binary "@$WORK/allprop.xml" "${URL}folder/")
        hrefs=$(grep -o -i '<[a-z0-9]*:href>' "$out" | wc -l)
        [[ $code == 207 && $hrefs == $((n + 1)) ]] ||
            { echo "listing of $n entries answered $code with $hrefs hrefs" >&2; exit 1; }
        rm -f "$out"
        : >"$WORK/$name-times"
        for ((i = 0; i < REPEAT; i++)); do
            curl -sS -o /dev/null -w '%{time_total} %{size_download}\n' -X PROPFIND -H 'Depth: 1' \
                -H "Authorization: $AUTH" -H 'Content-Type: application/xml; charset=utf-8' \
                --data-binary "@$WORK/allprop.xml" "${URL}folder/" >>"$WORK/$name-times"
        done
        local ms lo hi bytes hwm rss
        ms=$(awk '{ print $1 * 1000 }' "$WORK/$name-times" | median)
        lo=$(awk '{ printf "%.1f\n", $1 * 1000 }' "$WORK/$name-times" | sort -g | sed -n 1p)
        hi=$(awk '{ printf "%.1f\n", $1 * 1000 }' "$WORK/$name-times" | sort -g | tail -n 1)
        bytes=$(awk 'NR == 1 { print $2 }' "$WORK/$name-times")
        hwm=$(proc_kib "$SERVER_PID" VmHWM) rss=$(proc_kib "$SERVER_PID" VmRSS)
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$ms" "$lo" "$hi" "$bytes" "$idle" "$hwm" "$rss" \
            >>"$CURVES/listing.tsv"
        printf '  %7d entries: %8.1f ms (median), %d bytes, VmHWM %s -> %s MiB\n' "$n" "$ms" "$bytes" \
            "$(mib "$idle")" "$(mib "$hwm")" >&2
        stop_server "$SERVER_PID"
        rm -rf "${WORK:?}/$name"
    done
}

# --- auth: first-request latency and cached req/s against users and app passwords -----------------
STEP=0
auth_step() { # LABEL USERS: one measurement of the grown server ($PASSWORDS app passwords)
    local label=$1 users=$2 passwords i auths=() p
    STEP=$((STEP + 1))
    # FIRST new passwords of alice: each one's first request pays the lookup and one argon2.
    for ((i = 0; i < FIRST; i++)); do
        p=$(new_app_password auth alice "first-$STEP-$i")
        auths+=("$(basic alice "$p")")
    done
    PASSWORDS=$((PASSWORDS + FIRST))
    passwords=$PASSWORDS # the count while they are measured
    python3 bench/scale.py first-use "${URL}file4k" "${auths[@]}" >"$WORK/first-$STEP"
    local first_ms first_max
    first_ms=$(median <"$WORK/first-$STEP")
    first_max=$(sort -g "$WORK/first-$STEP" | tail -n 1 | awk '{ printf "%.1f", $1 }')
    run_wrk "auth-$STEP-one" "$SERVER_PID" "${URL}file4k" 200 "$AUTH"
    local one=$RATE
    run_wrk "auth-$STEP-rotation" "$SERVER_PID" "${URL}file4k" 200 "@$WORK/rotation-auths"
    local rotation=$RATE hwm store
    hwm=$(proc_kib "$SERVER_PID" VmHWM)
    store=$(stat -c %s "$WORK/auth/data/davgate.redb")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$users" "$passwords" "$first_ms" "$first_max" \
        "$one" "$rotation" "$hwm" "$store" >>"$CURVES/auth.tsv"
    printf '  %s: first request %s ms (median of %d, worst %s), cached %s req/s (rotation %s), VmHWM %s MiB\n' \
        "$label" "$first_ms" "$FIRST" "$first_max" "$one" "$rotation" "$(mib "$hwm")" >&2
}

auth_curve() {
    echo "auth: ${USERS[*]} users, then $APP_PASSWORDS app passwords" >&2
    # Live passwords per user: alice holds 1 + SCALE_FIRST per step; the bulk ones are spread
    # over every user. The cap (app_credentials_max_per_user, default 50, at most 10,000) is
    # raised to what that needs; it only refuses creations, nothing on the request path reads it.
    local most=${USERS[-1]} cap
    cap=$(((APP_PASSWORDS + most - 1) / most + 1 + FIRST * (${#USERS[@]} + 1) + 10))
    ((cap <= 10000)) || { echo "bench/scale.sh: $APP_PASSWORDS app passwords over $most users is more than 10,000 per user" >&2; exit 2; }
    ((cap > 50)) || cap=50
    new_server auth
    admin auth settings set app_credentials_max_per_user "$cap" >/dev/null
    local sock have=0 n i
    sock=$(socket_of auth)
    PASSWORDS=1 # alice's; every app password made below is counted here
    for n in "${USERS[@]}"; do
        ((n > have)) || continue
        echo "  adding users $have..$((n - 1)), one app password each" >&2
        python3 bench/scale.py users "$sock" "$have" "$n"
        python3 bench/scale.py passwords "$sock" "$have" "$n" "$((n - have))"
        PASSWORDS=$((PASSWORDS + n - have)) have=$n
        if [[ ! -f $WORK/rotation-auths ]]; then
            # The rotation: up to ROTATE_USERS users with a file each and a password of their
            # own, used once here so that wrk meets only cached credentials.
            local -a rotation=()
            for ((i = 0; i < ROTATE_USERS && i < n; i++)); do
                mkdir -p "$WORK/auth/data/files/u$i"
                cp "$WORK/file4k" "$WORK/auth/data/files/u$i/"
                rotation+=("$(basic "u$i" "$(new_app_password auth "u$i" rotation)")")
            done
            PASSWORDS=$((PASSWORDS + ${#rotation[@]}))
            printf '%s\n' "${rotation[@]}" >"$WORK/rotation-auths"
            python3 bench/scale.py first-use "${URL}file4k" "${rotation[@]}" >/dev/null
        fi
        auth_step "$(fmt "$n") users" "$n"
    done
    if ((APP_PASSWORDS > PASSWORDS)); then
        echo "  adding $((APP_PASSWORDS - PASSWORDS)) app passwords over $have users" >&2
        python3 bench/scale.py passwords "$sock" 0 "$have" "$((APP_PASSWORDS - PASSWORDS))"
        PASSWORDS=$APP_PASSWORDS
        auth_step "$(fmt "$APP_PASSWORDS") app passwords" "$have"
    fi
    stop_server "$SERVER_PID"
}

# --- idle: what kept-alive idle connections cost -------------------------------------------------
idle_curve() {
    echo "idle: IDLE_STEPS=$CONN_STEPS bench/idle-connections.sh" >&2
    # Its own scratch dir, servers and cleanup; it finds the binary in BIN.
    BIN=$BIN IDLE_STEPS=$CONN_STEPS bash bench/idle-connections.sh >"$WORK/idle.md"
    python3 bench/scale.py idle "$WORK/idle.md" >"$CURVES/idle.tsv"
    [[ -s $CURVES/idle.tsv ]] || { echo "bench/idle-connections.sh printed no table:" >&2; cat "$WORK/idle.md" >&2; exit 1; }
}

# --- props: the store after many dead properties --------------------------------------------------
open_ms() { # NAME: median of 3 wall times of a CLI command that opens the stopped server's store
    local i t0
    for ((i = 0; i < 3; i++)); do
        t0=$(now_ms)
        admin "$1" user list --json >/dev/null
        echo $(($(now_ms) - t0))
    done | median
}

props_curve() {
    echo "props: ${PROPS[*]} dead properties, $PROPS_PER_FILE per file and request" >&2
    new_server props
    local have=0 n files first owner upto home t0 seed_s depth0 size cli start i
    # One account may hold PROPS_PER_USER dead properties (the hardening budget), so they are
    # spread over owners: alice first, then p1, p2… (1,000,000 = 100 accounts).
    local -a owner_auth=("$AUTH")
    for n in "${PROPS[@]}"; do
        ((n > have)) || continue
        t0=$(now_ms)
        while ((have < n)); do
            owner=$((have / PROPS_PER_USER))
            ((owner < ${#owner_auth[@]})) ||
                owner_auth+=("$(python3 bench/scale.py owner "$(socket_of props)" "p$owner")")
            upto=$(((owner + 1) * PROPS_PER_USER))
            ((upto < n)) || upto=$n
            first=$(((have % PROPS_PER_USER) / PROPS_PER_FILE))
            files=$(((upto - have + PROPS_PER_FILE - 1) / PROPS_PER_FILE))
            home=alice
            ((owner == 0)) || home=p$owner
            python3 bench/scale.py tree "$WORK/props/data/files/$home/props" "$first" "$files"
            python3 bench/scale.py proppatch "${URL}props/" "${owner_auth[owner]}" "$first" "$files" "$PROPS_PER_FILE"
            have=$((have + files * PROPS_PER_FILE))
        done
        seed_s=$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN { printf "%.1f", ms / 1000 }')
        # One file's 1,000 properties read back (Depth 0, allprop), on the store as it is now:
        # all of them there first, then timed.
        local got
        got=$(curl -sS -X PROPFIND -H 'Depth: 0' -H "Authorization: $AUTH" \
            -H 'Content-Type: application/xml; charset=utf-8' --data-binary "@$WORK/allprop.xml" \
            "${URL}props/f0000000.txt" | grep -o 'p[0-9]\{4\}[ />]' | cut -c1-5 | sort -u | wc -l)
        ((got >= PROPS_PER_FILE)) ||
            { echo "props: f0000000.txt lists $got of its $PROPS_PER_FILE dead properties" >&2; exit 1; }
        depth0=$(for ((i = 0; i < 3; i++)); do
            curl -sS -o /dev/null -w '%{time_total}\n' -X PROPFIND -H 'Depth: 0' -H "Authorization: $AUTH" \
                -H 'Content-Type: application/xml; charset=utf-8' --data-binary "@$WORK/allprop.xml" \
                "${URL}props/f0000000.txt"
        done | awk '{ print $1 * 1000 }' | median)
        stop_server "$SERVER_PID"
        size=$(stat -c %s "$WORK/props/data/davgate.redb")
        cli=$(open_ms props)
        # The server's start on this store: launch to its "listening" line (polled every 0.1 s).
        t0=$(now_ms)
        start_server props
        start=$(($(now_ms) - t0))
        URL=http://127.0.0.1:$SERVER_PORT/dav/
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$have" "$size" "$cli" "$start" "$depth0" "$seed_s" >>"$CURVES/props.tsv"
        printf '  %8d dead properties: store %s MiB, CLI open %s ms, server start %s ms, Depth 0 of 1,000 %s ms (seeded in %s s)\n' \
            "$have" "$(mib $((size / 1024)))" "$cli" "$start" "$depth0" "$seed_s" >&2
    done
    stop_server "$SERVER_PID"
}

# --- report ----------------------------------------------------------------------------------------
report() {
    echo "## davgate's cost curves: run of $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- command: \`bench/scale.sh\` (SCALE_PARTS=\"${PARTS[*]}\", SCALE_ENTRIES=\"${ENTRIES[*]}\", SCALE_REPEAT=$REPEAT, SCALE_USERS=\"${USERS[*]}\", SCALE_APP_PASSWORDS=$APP_PASSWORDS, SCALE_FIRST=$FIRST, SCALE_CONNS=$CONN_STEPS, SCALE_PROPS=\"${PROPS[*]}\", BENCH_DURATION=$DURATION${BENCH_BIN:+, BENCH_BIN=$BENCH_BIN})"
    echo "- commit: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src vendor Cargo.toml Cargo.lock || echo ' (with uncommitted changes under src/, vendor/ or Cargo.*)'); davgate $("$BIN" --version | awk '{ print $2 }') (release, --features bench), RUST_LOG=$LOG_LEVEL"
    echo "- machine: nproc $(nproc), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); load average (1, 5, 15 min) at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg); clients on the same cores"
    [[ -z $PLOT ]] || echo "- the curves drawn: \`$PLOT\` (matplotlib ${MATPLOTLIB#*==})"
    echo
    if [[ -s $CURVES/listing.tsv ]]; then
        echo "### PROPFIND Depth 1 against the folder's size"
        echo
        echo "A fresh server per size; alice's folder of N small files; $REPEAT sequential PROPFIND Depth 1 allprop (curl, one at a time), the median wall time (min–max); peak RSS (VmHWM) of the fresh server before the first listing and after the last."
        echo
        echo "| entries | time, ms | per entry, µs | answer, bytes | peak RSS before, MiB | peak RSS after, MiB | RSS after, MiB |"
        echo "|--:|--:|--:|--:|--:|--:|--:|"
        while IFS=$'\t' read -r n ms lo hi bytes idle hwm rss; do
            echo "| $(fmt "$n") | $ms ($lo–$hi) | $(awk -v ms="$ms" -v n="$n" 'BEGIN { printf "%.1f", ms * 1000 / n }') | $(fmt "$bytes") | $(mib "$idle") | $(mib "$hwm") | $(mib "$rss") |"
        done <"$CURVES/listing.tsv"
        echo
    fi
    if [[ -s $CURVES/auth.tsv ]]; then
        echo "### Authentication against users and app passwords"
        echo
        echo "One server grown step by step through its admin socket (app_credentials_max_per_user raised to what the spread needs; each user with one app password, then app passwords spread over all users; every secret hashed with argon2 by the server, as \`davgate user add\` and \`app-password create\` do). At each step: $FIRST new app passwords of alice, each one's first request (a new connection, GET 4 KiB: lookup and one argon2 verification), the median and the worst; then \`wrk -t$THREADS -c$CONNS -d$DURATION\` GET 4 KiB with one cached password, and with $ROTATE_USERS users' cached passwords in rotation; the server's peak RSS and the store's size after the step."
        echo
        echo "| step | users | app passwords | first request, ms (median) | worst, ms | cached, req/s | cached, $ROTATE_USERS users in rotation, req/s | peak RSS, MiB | store, MiB |"
        echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
        while IFS=$'\t' read -r label users passwords first worst one rotation hwm store; do
            echo "| $label | $(fmt "$users") | $(fmt "$passwords") | $first | $worst | $(fmt "$one") | $(fmt "$rotation") | $(mib "$hwm") | $(mib $((store / 1024))) |"
        done <"$CURVES/auth.tsv"
        echo
    fi
    if [[ -s $CURVES/idle.tsv ]]; then
        echo "### Idle kept-alive connections"
        echo
        echo "From \`IDLE_STEPS=$CONN_STEPS bench/idle-connections.sh\` (its own servers: one per transport, each connection one authenticated GET 4 KiB then idle), its table as it printed it; ulimit -n $(ulimit -n)."
        echo
        echo "| transport | connections | alive | server RSS, MiB | peak RSS, MiB | RSS growth per connection, bytes | a valid client beside them, req/s |"
        echo "|---|--:|--:|--:|--:|--:|--:|"
        while IFS=$'\t' read -r transport n alive rss hwm per rps; do
            echo "| $transport | $(fmt "$n") | $(fmt "${alive:-0}") | $(mib "${rss:-0}") | $(mib "${hwm:-0}") | $(fmt "${per:-0}") | ${rps:-—} |"
        done <"$CURVES/idle.tsv"
        echo
        if ! awk -F'\t' '$7 == "" { missing = 1 } END { exit missing }' "$CURVES/idle.tsv"; then
            echo "bench/idle-connections.sh printed no valid client's req/s at this commit: that column stays empty until it does."
            echo
        fi
    fi
    if [[ -s $CURVES/props.tsv ]]; then
        echo "### The store after many dead properties"
        echo
        echo "PROPPATCH of $PROPS_PER_FILE dead properties (about 60 bytes of XML each) per request and file, over 2 connections, $(fmt "$PROPS_PER_USER") per account (alice, then p1, p2…); then, with the server stopped: the store file's size and the median of 3 \`davgate user list\` (the CLI opening the store itself); then the server started again on it (launch to its listening line, polled every 0.1 s); and a Depth 0 allprop PROPFIND of one file holding $PROPS_PER_FILE of them (median of 3)."
        echo
        echo "| dead properties | store, MiB | bytes per property | CLI open, ms | server start, ms | PROPFIND Depth 0 of $(fmt "$PROPS_PER_FILE"), ms | seeding this step, s |"
        echo "|--:|--:|--:|--:|--:|--:|--:|"
        while IFS=$'\t' read -r n size cli start depth0 seed; do
            echo "| $(fmt "$n") | $(mib $((size / 1024))) | $(awk -v s="$size" -v n="$n" 'BEGIN { printf "%.0f", s / n }') | $cli | $start | $depth0 | $seed |"
        done <"$CURVES/props.tsv"
        echo
    fi
}

plot() { # the curves as one PNG: matplotlib, pinned, in a venv under target/
    if ! "$PLOT_VENV/bin/python" -c 'import matplotlib' 2>/dev/null ||
        ! head -1 "$PLOT_VENV/bin/pip" | grep -qF "$PLOT_VENV/"; then
        echo "installing $MATPLOTLIB into $PLOT_VENV" >&2
        python3 -m venv --clear "$PLOT_VENV"
        "$PLOT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$MATPLOTLIB" >&2
    fi
    "$PLOT_VENV/bin/python" bench/scale-plot.py "$CURVES" "$PLOT" "$(git -C "$REPO" rev-parse --short HEAD)"
    echo "plotted into $PLOT" >&2
}

# --- main ------------------------------------------------------------------------------------------
part listing && listing_curve
part auth && auth_curve
part idle && idle_curve
part props && props_curve
report | tee "$WORK/report.md"
[[ -z $PLOT ]] || plot
save_section bench/scale.sh "$WORK/report.md"
