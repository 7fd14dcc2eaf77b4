#!/usr/bin/env bash
# The attack benchmark of the hardening work (issue 9), one command: every flood of the red-team
# report against a release davgate, beside a valid client, each script bounded in time and
# stopping by itself. Runs, in order:
#
#   bench/attack-connections.sh  2,000 idle TCP, 500 idle h2 over TLS, 100 h2 x 200 stalled
#                                sign-in and PUT streams: the valid client's req/s, peak RSS, fds
#   bench/attack-spray.sh        a 400-connection name-spraying flood on WebDAV and on the web
#                                sign-in: a legitimate sign-in's latency from another address
#   bench/attack-locks.sh        16,000 LOCK attempts with 60 KB owners: peak RSS, refusals
#
# Targets: req/s >= 80 % of the baseline, RSS <= 64 MiB, a legitimate sign-in <= 0.2 s.
# Each script's own header lists its knobs (CARGO_TARGET_DIR, ATTACK_SECONDS, FLOOD_SECONDS,
# ATTEMPTS); BENCH_BIN runs an existing release build (--features bench) instead of building.
# The three outputs go, as printed, into the attack section of bench/RESULTS.md (BENCH_RESULTS:
# another file; empty: do not save). About 12 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init attack # only for $WORK, the outputs kept until the report is saved
START=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
SCRIPTS=(attack-connections attack-spray attack-locks)
for script in "${SCRIPTS[@]}"; do
    echo "==> bench/$script.sh"
    bash "bench/$script.sh" | tee "$WORK/$script.txt"
done

{
    echo "## bench/attack.sh: the red-team floods, run of $START"
    echo
    echo "- commit: $(git -C "$REPO" rev-parse --short HEAD); knobs: ATTACK_SECONDS=${ATTACK_SECONDS:-16} FLOOD_SECONDS=${FLOOD_SECONDS:-20} FLOOD_CONNS=${FLOOD_CONNS:-400} ATTEMPTS=${ATTEMPTS:-16000}${BENCH_BIN:+, BENCH_BIN=$BENCH_BIN}"
    echo "- machine: nproc $(nproc); load average (1, 5, 15 min) at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- targets: the valid client's req/s ≥ 80 % of its baseline, peak RSS ≤ 64 MiB, a legitimate sign-in ≤ 0.2 s"
    for script in "${SCRIPTS[@]}"; do
        echo
        echo "\`bench/$script.sh\`:"
        echo
        echo '```'
        cat "$WORK/$script.txt"
        echo '```'
    done
} >"$WORK/report.md"
save_section bench/attack.sh "$WORK/report.md"
