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
# ATTEMPTS). About 12 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for script in attack-connections attack-spray attack-locks; do
    echo "==> bench/$script.sh"
    bash "bench/$script.sh"
done
