"""Idle kept-alive connections and what they cost a server, for bench/idle-connections.sh.

  idle-connections.py HOST PORT TLS AUTH PATH PID SOURCES STEPS [ALPN]

Opens connections in steps up to each of STEPS (e.g. 100,1000,10000), spread round-robin over
SOURCES (e.g. 127.0.1.1-40, so that no address reaches the per-address cap); each sends one
authenticated GET PATH (HTTP/1.1 keep-alive; over TLS with ALPN ALPN, default http/1.1), reads
the whole answer and then stays idle. After each step, once the server has had a moment, reads
PID's VmRSS, RssAnon and VmHWM and prints one JSON line per step, with the growth per
connection since no connection was open. Bounded: every socket is closed at the end.
"""
import asyncio
import json
import ssl
import sys
import time

host, port, tls = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
auth, path, pid = sys.argv[4], sys.argv[5], int(sys.argv[6])
sources, steps = sys.argv[7], [int(s) for s in sys.argv[8].split(",")]
alpn = sys.argv[9] if len(sys.argv) > 9 else "http/1.1"

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
        host, port, ssl=ctx, local_addr=(addresses[i % len(addresses)], 0))
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


async def main():
    ctx = context()
    base = status()
    writers = []
    failed = 0
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
        await asyncio.sleep(2)
        now = status()
        alive = sum(1 for w in writers if not w.is_closing())
        grown = (now["VmRSS"] - base["VmRSS"]) * 1024
        print(json.dumps({
            "connections": len(writers), "failed": failed, "alive": alive,
            "open_seconds": round(time.monotonic() - started, 1),
            "rss_kib": now["VmRSS"], "rss_anon_kib": now["RssAnon"], "hwm_kib": now["VmHWM"],
            "base_rss_kib": base["VmRSS"],
            "bytes_per_connection": round(grown / max(len(writers), 1)),
        }), flush=True)
    for w in writers:
        w.close()


asyncio.run(main())
