#!/usr/bin/env bash
# Red-team finding 6: LOCK memory exhaustion. 16,000 LOCK attempts with 60 KB owners from
# 4 parallel clients (each on its own paths), then the same with 3.9 KB owners (the largest
# accepted), then a PROPFIND lockdiscovery on a file holding the most shared locks allowed.
# Reports the server's peak RSS (target: at most 64 MiB) and how many LOCKs were refused, with
# which status.
#
# Usage (from the repo root):   bench/attack-locks.sh
#   CARGO_TARGET_DIR   where to build (default: target/)
#   ATTEMPTS           LOCK attempts per phase, spread over 4 clients (default: 16000)
#
# Bounded: each phase stops after ATTEMPTS requests or 300 s, whichever comes first. Everything
# listens on 127.0.0.1 only; the server is stopped and its data directory removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
ATTEMPTS=${ATTEMPTS:-16000}
CLIENTS=4
PHASE_LIMIT_S=300

# shellcheck source=bench/lib.sh
source bench/lib.sh
for tool in curl python3 cargo; do
    command -v "$tool" >/dev/null || { echo "bench/attack-locks.sh: $tool is required" >&2; exit 1; }
done

bench_init attack-locks
build_davgate

start_server locks
PID=$SERVER_PID BASE=http://127.0.0.1:$SERVER_PORT
admin locks user add alice >/dev/null
PASSWORD=$(new_app_password locks alice bench)
curl -sS -o /dev/null -u "alice:$PASSWORD" -X MKCOL "$BASE/dav/locks/"
START_KIB=$(proc_kib "$PID" VmRSS)

# flood OWNER_BYTES LABEL: ATTEMPTS LOCKs from CLIENTS processes, prints "status count" lines
flood() {
    python3 - "$BASE" "$PASSWORD" "$ATTEMPTS" "$CLIENTS" "$1" "$2" "$PHASE_LIMIT_S" <<'EOF'
import base64, collections, http.client, multiprocessing, sys, time, urllib.parse

base, password, attempts, clients, owner_bytes, label, limit = sys.argv[1:]
attempts, clients, owner_bytes, limit = int(attempts), int(clients), int(owner_bytes), float(limit)
url = urllib.parse.urlsplit(base)
auth = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
owner = "O" * owner_bytes
body = (f'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope>'
        f'<D:locktype><D:write/></D:locktype><D:owner>{owner}</D:owner></D:lockinfo>').encode()

def client(k):
    counts = collections.Counter()
    deadline = time.monotonic() + limit
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    for i in range(attempts // clients):
        if time.monotonic() > deadline:
            counts["stopped (time limit)"] += attempts // clients - i
            break
        try:
            conn.request("LOCK", f"/dav/locks/{label}-{k}-{i % 250}.txt", body,
                         {"Authorization": auth, "Timeout": "Second-600"})
            res = conn.getresponse()
            res.read()
            counts[res.status] += 1
        except OSError as e:
            counts[type(e).__name__] += 1
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    return counts

with multiprocessing.Pool(clients) as pool:
    total = sum(pool.map(client, range(clients)), collections.Counter())
for status, n in sorted(total.items(), key=str):
    print(status, n)
EOF
}

report() { # LABEL RESULTS
    echo "  $1:"
    sed 's/^/    status /' <<<"$2"
    echo "    server RSS now $(mib "$(proc_kib "$PID" VmRSS)") MiB, peak $(mib "$(proc_kib "$PID" VmHWM)") MiB"
}

echo "davgate: LOCK flood, $ATTEMPTS attempts per phase from $CLIENTS clients (RSS at start $(mib "$START_KIB") MiB)"
T0=$(date +%s.%N)
BIG=$(flood 60000 big)
T1=$(date +%s.%N)
report "60 KB owners ($(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s)" "$BIG"
SMALL=$(flood 3900 small)
T2=$(date +%s.%N)
report "3.9 KB owners ($(awk -v a="$T1" -v b="$T2" 'BEGIN { printf "%.1f", b - a }') s)" "$SMALL"

# The most shared locks one file can hold (another user: alice is at her cap), each with the
# largest owner, in one lockdiscovery.
admin locks user add bob >/dev/null
BOB=$(new_app_password locks bob bench)
OWNER=$(printf 'O%.0s' $(seq 3900))
LOCKINFO="<?xml version=\"1.0\"?><D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>$OWNER</D:owner></D:lockinfo>"
CODES=$(for _ in $(seq 33); do
    curl -sS -o /dev/null -w '%{http_code}\n' -u "bob:$BOB" -X LOCK --data "$LOCKINFO" "$BASE/dav/one.txt"
done | sort | uniq -c | tr -s ' \n' ' ')
SIZE=$(curl -sS -o /dev/null -w '%{size_download}' -u "bob:$BOB" -X PROPFIND -H 'Depth: 0' \
    --data '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>' \
    "$BASE/dav/one.txt")
echo "  33 shared LOCKs of one file with 3.9 KB owners:$CODES(count status); its lockdiscovery: $SIZE bytes"
PEAK_KIB=$(proc_kib "$PID" VmHWM)
echo "  peak RSS over the whole run: $(mib "$PEAK_KIB") MiB (target: 64 MiB or less)"
grep -c panicked "$WORK/locks/stderr" >/dev/null && echo "  the server log has a panic!" || true
((PEAK_KIB <= 64 * 1024)) || { echo "  peak RSS above 64 MiB" >&2; exit 1; }
