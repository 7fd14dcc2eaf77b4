#!/usr/bin/env bash
# Big files side by side: GET 64 MiB (MB/s) and GET 4 KiB (req/s) on davgate with each way of
# sending a file's bytes, Apache mod_dav (mmap, its default) and nginx (sendfile on), over plain
# HTTP and over HTTPS (davgate's own TLS and nginx's, on one self-signed certificate), in
# interleaved rounds; with each server's peak RSS (VmHWM) and, sampled during the 64 MiB runs, its
# largest RssAnon and RssFile (mapped file pages count in RSS as RssFile).
#
# Usage (from the repo root):   bench/bigfile.sh
#   BENCH_DURATION   wrk duration per run (default: 5s)
#   BENCH_ROUNDS     rounds over all servers (default: 3)
#   BIN, BENCH_BIN   an existing davgate built with --features bench (default: build one)
#   BENCH_RESULTS    file whose bigfile section gets the report (default: bench/RESULTS.md;
#                    empty: do not save)
#   BIGFILE_CHUNKS   davgate GET chunk sizes to compare over plain HTTP, in bytes: 1 MiB and
#                    more are mapped windows, less are copies (default: 131072 1048576; 131072
#                    is the copy path of the build before mapped reads, 1048576 the default)
#   BIGFILE_TLS_CHUNKS  the same over HTTPS (always copies; default: 131072 262144)
#   BIGFILE_TLS      0: skip the HTTPS round (default: 1)
#   BIGFILE_APACHE_SENDFILE  1: also Apache with `EnableSendfile On` (default: 0): on loopback the
#                    client's copy out of the socket bounds every server, and how fast it goes
#                    depends on whether the server's own copy left the bytes in the CPU cache
#
# Every server binds 127.0.0.1 on a free port; everything lives under one mktemp -d removed on exit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
DURATION=${BENCH_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-3}
read -r -a CHUNKS <<<"${BIGFILE_CHUNKS:-131072 1048576}"
read -r -a TLS_CHUNKS <<<"${BIGFILE_TLS_CHUNKS:-131072 262144}"
TLS=${BIGFILE_TLS:-1}
THREADS=2
CONNS=32
LOG_LEVEL=warn
APACHE=/usr/sbin/apache2
NGINX=/usr/sbin/nginx

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_install wrk:wrk apache2:apache2 htpasswd:apache2-utils openssl:openssl
bench_init bigfile
chmod 711 "$WORK"
[[ -n ${BIN:-} ]] || build_davgate # BIN=...: an existing build

SEED=$WORK/seed
mkdir -p "$SEED"
head -c 4096 /dev/urandom >"$SEED/file4k"
head -c $((64 << 20)) /dev/urandom >"$SEED/file64m"
PASSWORD=$(head -c 18 /dev/urandom | base64)
htpasswd -cbm "$WORK/htpasswd" alice "$PASSWORD" 2>/dev/null
chmod 644 "$WORK/htpasswd"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
chmod 644 "$WORK/key.pem"

declare -A PID URL AUTH SCHEME
KEYS=() TLS_KEYS=()

setup_davgate() { # KEY CHUNK [serve flags...]
    local key=$1 chunk=$2
    shift 2
    admin "$key" user add alice >/dev/null
    local password
    password=$(new_app_password "$key" alice bench)
    mkdir -p "$WORK/$key/data/files/alice"
    cp -a "$SEED/." "$WORK/$key/data/files/alice/"
    start_server "$key" --bench-get-chunk "$chunk" "$@"
    PID[$key]=$SERVER_PID
    URL[$key]=${SERVER_SCHEME:-http}://127.0.0.1:$SERVER_PORT/dav/
    AUTH[$key]=$(basic alice "$password")
}

setup_apache() { # KEY [a directive added to its configuration]
    local key=$1 extra=${2:-} dir=$WORK/$1 port modules=/usr/lib/apache2/modules user_group=
    mkdir -p "$dir/files" "$dir/lock" "$dir/run"
    cp -a "$SEED/." "$dir/files/"
    port=$(free_port)
    if [[ $(id -u) == 0 ]]; then
        user_group=$'User www-data\nGroup www-data'
        chown -R www-data:www-data "$dir/files" "$dir/lock"
        chmod 755 "$dir"
    fi
    # As bench/compare.sh: mpm_event, defaults kept (EnableMMAP On, EnableSendfile Off).
    cat >"$dir/httpd.conf" <<EOF
ServerRoot $dir
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile $dir/run/httpd.pid
DefaultRuntimeDir $dir/run
ErrorLog $dir/error.log
LogLevel warn
$user_group
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authn_core_module $modules/mod_authn_core.so
LoadModule authn_file_module $modules/mod_authn_file.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule authz_user_module $modules/mod_authz_user.so
LoadModule auth_basic_module $modules/mod_auth_basic.so
LoadModule alias_module $modules/mod_alias.so
LoadModule mime_module $modules/mod_mime.so
LoadModule dav_module $modules/mod_dav.so
LoadModule dav_fs_module $modules/mod_dav_fs.so
TypesConfig /dev/null
DocumentRoot $dir/files
DAVLockDB $dir/lock/DAVLock
Alias /dav/ $dir/files/
<Directory $dir/files>
    Options None
    AllowOverride None
</Directory>
<Location /dav/>
    Dav On
    AuthType Basic
    AuthName "davgate bench"
    AuthUserFile $WORK/htpasswd
    Require valid-user
</Location>
$extra
EOF
    "$APACHE" -f "$dir/httpd.conf" -DFOREGROUND >"$dir/stdout" 2>&1 &
    PID[$key]=$!
    track_pid "${PID[$key]}"
    URL[$key]=http://127.0.0.1:$port/dav/
    AUTH[$key]=$(basic alice "$PASSWORD")
    wait_http "$key" "${PID[$key]}" "${URL[$key]}"
}

setup_nginx() { # KEY plain|tls
    local key=$1 mode=$2 dir=$WORK/$1 port listen
    mkdir -p "$dir/files" "$dir/tmp"
    cp -a "$SEED/." "$dir/files/"
    chmod -R a+rX "$dir"
    port=$(free_port)
    listen="127.0.0.1:$port"
    local tls_conf=''
    if [[ $mode == tls ]]; then
        listen="$listen ssl"
        tls_conf="ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;"
    fi
    # Debian's defaults for a file server: sendfile on, keepalive_timeout 65, 2 workers (one
    # per core, as worker_processes auto); dav methods on, Basic auth from the same htpasswd.
    cat >"$dir/nginx.conf" <<EOF
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
daemon off;
$([[ $(id -u) == 0 ]] && echo "user root;")
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen $listen;
        $tls_conf
        location /dav/ {
            alias $dir/files/;
            dav_methods PUT DELETE MKCOL COPY MOVE;
            auth_basic "davgate bench";
            auth_basic_user_file $WORK/htpasswd;
        }
    }
}
EOF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    PID[$key]=$!
    track_pid "${PID[$key]}"
    local scheme=http i
    [[ $mode == plain ]] || scheme=https
    URL[$key]=$scheme://127.0.0.1:$port/dav/
    AUTH[$key]=$(basic alice "$PASSWORD")
    for ((i = 0; i < 100; i++)); do
        curl -sk -o /dev/null --max-time 1 "${URL[$key]}" && return 0
        sleep 0.1
    done
    echo "nginx ($key) did not answer:" >&2
    cat "$dir/stdout" "$dir/error.log" >&2
    exit 1
}

for chunk in "${CHUNKS[@]}"; do
    setup_davgate "davgate-$chunk" "$chunk"
    KEYS+=("davgate-$chunk")
done
setup_apache apache
KEYS+=(apache)
if [[ ${BIGFILE_APACHE_SENDFILE:-0} == 1 ]]; then
    setup_apache apache-sendfile 'EnableSendfile On'
    KEYS+=(apache-sendfile)
fi
HAVE_NGINX=0
if [[ -x $NGINX ]]; then
    setup_nginx nginx plain
    KEYS+=(nginx)
    HAVE_NGINX=1
fi
if [[ $TLS == 1 ]]; then
    for chunk in "${TLS_CHUNKS[@]}"; do
        SERVER_SCHEME=https setup_davgate "davgate-tls-$chunk" "$chunk" \
            --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
        TLS_KEYS+=("davgate-tls-$chunk")
    done
    if ((HAVE_NGINX)); then
        setup_nginx nginx-tls tls
        TLS_KEYS+=(nginx-tls)
    fi
fi

# Every server must send the same bytes before it is measured.
for key in "${KEYS[@]}" "${TLS_KEYS[@]}"; do
    curl -sfk -H "Authorization: ${AUTH[$key]}" "${URL[$key]}file64m" | cmp - "$SEED/file64m" ||
        { echo "bench/bigfile.sh: $key sent other bytes for file64m" >&2; exit 1; }
    curl -sfk -H "Authorization: ${AUTH[$key]}" -H 'Range: bytes=1000-2999999' "${URL[$key]}file64m" |
        cmp - <(tail -c +1001 "$SEED/file64m" | head -c 2999000) ||
        { echo "bench/bigfile.sh: $key sent other bytes for a range" >&2; exit 1; }
done

sampler() { # PID OUT: largest RssAnon and RssFile (KiB) of PID's tree while it runs, into OUT
    local pid=$1 out=$2 anon=0 file=0 a f
    while [[ -e $out.run ]]; do
        a=$(tree_kib "$pid" RssAnon) f=$(tree_kib "$pid" RssFile)
        ((a > anon)) && anon=$a
        ((f > file)) && file=$f
        sleep 0.2
    done
    echo "$anon $file" >"$out"
}

declare -A RES
run_one() { # KEY ROUND
    local key=$1 r=$2 pid=${PID[$1]} url=${URL[$1]} auth=${AUTH[$1]} s=$WORK/sample-$1-$2
    run_wrk "$key-get4k-r$r" "$pid" "${url}file4k" 200 "$auth"
    RES[get4k,$key,$r]=$RATE
    : >"$s.run"
    sampler "$pid" "$s" &
    local sp=$!
    run_wrk -q -T 30s "$key-get64m-r$r" "$pid" "${url}file64m" 200 "$auth"
    rm -f "$s.run"
    wait "$sp"
    RES[get64m,$key,$r]=$MBPS
    RES[cpu64m,$key,$r]=$CPU_S
    RES[bytes64m,$key,$r]=$BYTES
    read -r a f <"$s"
    RES[anon,$key,$r]=$a RES[file,$key,$r]=$f
}

DURATION_SAVED=$DURATION
for ((r = 1; r <= ROUNDS; r++)); do
    for key in "${KEYS[@]}" "${TLS_KEYS[@]}"; do
        echo "round $r: $key" >&2
        DURATION=$DURATION_SAVED run_one "$key" "$r"
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { # METRIC KEY
    local r
    for ((r = 1; r <= ROUNDS; r++)); do echo "${RES[$1,$2,$r]}"; done | median
}
spread() { # METRIC KEY: min–max
    local r
    for ((r = 1; r <= ROUNDS; r++)); do echo "${RES[$1,$2,$r]}"; done | sort -g |
        awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f–%.0f", lo, hi }'
}
cpu_per_gb() { # KEY: server CPU seconds per 10^9 bytes sent, over all rounds
    local r cpu=0 bytes=0
    for ((r = 1; r <= ROUNDS; r++)); do
        cpu=$(awk -v a="$cpu" -v b="${RES[cpu64m,$1,$r]}" 'BEGIN { print a + b }')
        bytes=$(awk -v a="$bytes" -v b="${RES[bytes64m,$1,$r]}" 'BEGIN { print a + b }')
    done
    awk -v c="$cpu" -v b="$bytes" 'BEGIN { printf "%.2f", (b > 0 ? c / (b / 1e9) : 0) }'
}
maxof() { # METRIC KEY
    local r
    for ((r = 1; r <= ROUNDS; r++)); do echo "${RES[$1,$2,$r]}"; done | sort -g | tail -1
}

report() {
    echo "## bench/bigfile.sh: run of $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
    echo
    echo "- \`BENCH_DURATION=$DURATION_SAVED BENCH_ROUNDS=$ROUNDS BIGFILE_CHUNKS='${CHUNKS[*]}' BIGFILE_TLS_CHUNKS='${TLS_CHUNKS[*]}' bench/bigfile.sh\`; \`wrk -t$THREADS -c$CONNS\` on 127.0.0.1, same cores; medians of $ROUNDS rounds (min–max)"
    echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| server | GET 4 KiB, req/s | GET 64 MiB, MB/s | GET 64 MiB: server CPU s per GB sent | peak RSS (VmHWM), MiB | RssAnon / RssFile during 64 MiB, MiB |"
    echo "|---|--:|--:|--:|--:|--:|"
    for key in "${KEYS[@]}" "${TLS_KEYS[@]}"; do
        printf '| %s | %s (%s) | %s (%s) | %s | %s | %s / %s |\n' "$key" \
            "$(med get4k "$key")" "$(spread get4k "$key")" "$(med get64m "$key")" "$(spread get64m "$key")" \
            "$(cpu_per_gb "$key")" "$(mib "$(tree_kib "${PID[$key]}" VmHWM)")" \
            "$(mib "$(maxof anon "$key")")" "$(mib "$(maxof file "$key")")"
    done
    echo
    echo "Ratios of medians (GET 64 MiB / GET 4 KiB):"
    for key in "${KEYS[@]}"; do
        [[ $key == davgate-* ]] || continue
        line="- $key:"
        for peer in apache apache-sendfile nginx; do
            [[ -n ${PID[$peer]:-} ]] || continue
            line+=$(awk -v a="$(med get64m "$key")" -v b="$(med get64m "$peer")" -v c="$(med get4k "$key")" -v d="$(med get4k "$peer")" -v p="$peer" \
                'BEGIN { printf " %.2f× / %.2f× %s;", a / b, c / d, p }')
        done
        echo "$line"
    done
    for key in "${TLS_KEYS[@]}"; do
        [[ $key == davgate-* && -n ${PID[nginx-tls]:-} ]] || continue
        awk -v k="$key" -v a="$(med get64m "$key")" -v b="$(med get64m nginx-tls)" -v c="$(med get4k "$key")" -v d="$(med get4k nginx-tls)" \
            'BEGIN { printf "- %s: %.2f× / %.2f× nginx over TLS\n", k, a / b, c / d }'
    done
}
report | tee "$WORK/report.md"
save_section bench/bigfile.sh "$WORK/report.md"
