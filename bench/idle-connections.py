"""Idle kept-alive connections and what they cost a server, for bench/idle-connections.sh.

  idle-connections.py HOST PORT TLS AUTH PATH PID SOURCES STEPS [ALPN]

Opens connections in steps up to each of STEPS (e.g. 100,1000,10000), spread round-robin over
SOURCES (e.g. 127.0.1.1-40, so that no address reaches the per-address cap). What each does
before it stays idle is IDLE_MODE:
  request    (default) one authenticated GET PATH (HTTP/1.1 keep-alive; over TLS with ALPN
             ALPN, default http/1.1), the whole answer read: a client between two requests;
  connect    nothing (TCP only): what an accepted socket costs before its first byte;
  handshake  the TLS handshake only (TLS=1): what a TLS session costs before its first request.
After each step, once the server has had a moment, reads PID's VmRSS, RssAnon, RssFile and VmHWM
and, unless IDLE_PROBE_SECONDS is 0, runs `wrk -t1 -c$IDLE_PROBE_CONNS` (default 8) for that many
seconds (default 3) on the same GET from 127.0.0.1: a valid client's req/s beside the idle ones
(200s only). IDLE_HOLD_SECONDS (default 0) keeps the connections open that long after the
last step, to inspect the server. Prints one JSON line per step: the growth per connection since none was open, and
the slope since the previous step (the better figure: the first step also pays the warm-up).
Bounded: every socket is closed at the end.
"""
import asyncio
import json
import os
import re
import ssl
import sys
import time

host, port, tls = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
auth, path, pid = sys.argv[4], sys.argv[5], int(sys.argv[6])
sources, steps = sys.argv[7], [int(s) for s in sys.argv[8].split(",")]
alpn = sys.argv[9] if len(sys.argv) > 9 else "http/1.1"
mode = os.environ.get("IDLE_MODE", "request")
probe_seconds = int(os.environ.get("IDLE_PROBE_SECONDS", "3"))
probe_conns = int(os.environ.get("IDLE_PROBE_CONNS", "8"))
hold_seconds = float(os.environ.get("IDLE_HOLD_SECONDS", "0"))
if mode not in ("request", "connect", "handshake") or (mode == "handshake" and not tls):
    sys.exit(f"IDLE_MODE={mode}: request, connect, or handshake (with TLS)")

if "-" in sources.rsplit(".", 1)[1]:
    prefix, span = sources.rsplit(".", 1)
    lo, hi = (int(x) for x in span.split("-"))
    addresses = [f"{prefix}.{i}" for i in range(lo, hi + 1)]
else:
    addresses = [sources]


def status():
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def context():
    if not tls:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    return ctx


REQUEST = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\n"
           "Connection: keep-alive\r\n\r\n").encode()


async def one(i, ctx):
    reader, writer = await asyncio.open_connection(
        host, port, ssl=ctx if mode != "connect" else None,
        local_addr=(addresses[i % len(addresses)], 0))
    if mode != "request":
        return writer
    writer.write(REQUEST)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n")[0].decode())
    return writer


async def probe():
    """A valid client's 200s per second while the idle connections are held (None: not run)."""
    if probe_seconds <= 0:
        return None
    scheme = "https" if tls else "http"
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{probe_conns}", f"-d{probe_seconds}s", "--timeout", "2s",
        "-H", f"Authorization: {auth}", f"{scheme}://{host}:{port}{path}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out = (await proc.communicate())[0].decode(errors="replace")
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if proc.returncode != 0 or not total:
        print(f"wrk failed: {out}", file=sys.stderr)
        return None
    seconds = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    ok = int(total.group(1)) - (int(bad.group(1)) if bad else 0)
    return round(ok / seconds)


async def main():
    ctx = context()
    base = status()
    writers = []
    failed = 0
    previous = (0, base["VmRSS"])
    for target in steps:
        started = time.monotonic()
        while len(writers) < target:
            batch = range(len(writers), min(target, len(writers) + 200))
            results = await asyncio.gather(*(one(i, ctx) for i in batch), return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException):
                    failed += 1
                else:
                    writers.append(r)
            if failed > target:
                break
        opened = round(time.monotonic() - started, 1)
        await asyncio.sleep(2)
        now = status()
        alive = sum(1 for w in writers if not w.is_closing())
        rps = await probe()
        grown = (now["VmRSS"] - base["VmRSS"]) * 1024
        added = len(writers) - previous[0]
        slope = (now["VmRSS"] - previous[1]) * 1024 / added if added > 0 else 0
        previous = (len(writers), now["VmRSS"])
        print(json.dumps({
            "mode": mode, "connections": len(writers), "failed": failed, "alive": alive,
            "open_seconds": opened,
            "rss_kib": now["VmRSS"], "rss_anon_kib": now["RssAnon"],
            "rss_file_kib": now["RssFile"], "hwm_kib": now["VmHWM"],
            "base_rss_kib": base["VmRSS"],
            "bytes_per_connection": round(grown / max(len(writers), 1)),
            "slope_bytes_per_connection": round(slope),
            "valid_client_rps": rps,
        }), flush=True)
    await asyncio.sleep(hold_seconds)
    for w in writers:
        w.close()


asyncio.run(main())
