"""Connection floods against davgate, for bench/attack-connections.sh (bounded: it stops itself).

  attack-connections.py MODE HOST PORT TLS COUNT SOURCES SECONDS [STREAMS [AUTH]]

MODE    tcp: connections that never send a byte, reopened when the server closes them
        h2idle: HTTP/2 connections that finish the preface and settings, then stay idle (reopened)
        h2stall: STREAMS sign-in streams per connection (POST /api/v1/session, content-length
                 65536) that send ~60 KB each, as flow control allows, then stall
        h2put: STREAMS authenticated PUT streams per connection (content-length 1000000) that
               send 1 byte each, then stall (AUTH: the Authorization value)
SOURCES source addresses, e.g. 127.0.0.1 or 127.0.0.3-42 (connections spread round-robin)

Prints one JSON line: what was opened, what the server closed or refused.
"""
import asyncio
import json
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

mode, host, port, tls = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
count, sources, seconds = int(sys.argv[5]), sys.argv[6], float(sys.argv[7])
streams = int(sys.argv[8]) if len(sys.argv) > 8 else 0
auth = sys.argv[9] if len(sys.argv) > 9 else ""

if "-" in sources.rsplit(".", 1)[1]:
    prefix, span = sources.rsplit(".", 1)
    lo, hi = (int(x) for x in span.split("-"))
    addresses = [f"{prefix}.{i}" for i in range(lo, hi + 1)]
else:
    addresses = [sources]

stats = {"mode": mode, "connections": count, "sources": len(addresses), "opened": 0,
         "refused_or_failed": 0, "closed_by_server": 0, "open_at_end": 0,
         "streams_opened": 0, "streams_reset": 0, "body_bytes_sent": 0}
deadline = time.monotonic() + seconds


def context():
    if not tls:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    return ctx


async def open_from(source):
    kwargs = {"local_addr": (source, 0)}
    if tls:
        kwargs.update(ssl=context(), server_hostname="localhost")
    return await asyncio.wait_for(asyncio.open_connection(host, port, **kwargs), 10)


async def read_until_closed(reader):
    """True if the server closed the connection before the deadline."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            data = await asyncio.wait_for(reader.read(65536), left)
        except asyncio.TimeoutError:
            return False
        except (ConnectionError, OSError):
            return True
        if not data:
            return True


async def idle(i):
    """Holds one connection open (reopening it) until the deadline."""
    source = addresses[i % len(addresses)]
    while time.monotonic() < deadline:
        try:
            reader, writer = await open_from(source)
        except (OSError, asyncio.TimeoutError, ssl.SSLError):
            stats["refused_or_failed"] += 1
            await asyncio.sleep(0.2)
            continue
        stats["opened"] += 1
        if mode == "h2idle":
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            writer.write(conn.data_to_send())
        closed = await read_until_closed(reader)
        if closed:
            stats["closed_by_server"] += 1
            await asyncio.sleep(0.05)
        else:
            stats["open_at_end"] += 1
        writer.close()


async def stall(i):
    """One HTTP/2 connection whose streams send part of their body, then nothing."""
    source = addresses[i % len(addresses)]
    try:
        reader, writer = await open_from(source)
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        stats["refused_or_failed"] += 1
        return
    stats["opened"] += 1
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    scheme = "https" if tls else "http"
    want = {}  # stream id -> body bytes still to send
    for k in range(streams):
        if mode == "h2stall":
            path, length, send = "/api/v1/session", "65536", 60_000
            extra = [("content-type", "application/json")]
        else:
            path, length, send = f"/dav/h2fd-{i}-{k}", "1000000", 1
            extra = [("authorization", auth)]
        headers = [(":method", "POST" if mode == "h2stall" else "PUT"), (":scheme", scheme),
                   (":authority", "localhost"), (":path", path),
                   ("content-length", length)] + extra
        try:
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, headers)
        except h2.exceptions.H2Error:
            break
        want[sid] = send
        stats["streams_opened"] += 1
    writer.write(conn.data_to_send())

    def push():
        for sid, left in list(want.items()):
            if left <= 0:
                continue
            try:
                room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size, left)
            except h2.exceptions.H2Error:
                want[sid] = 0
                continue
            if room > 0:
                conn.send_data(sid, b"x" * room)
                want[sid] = left - room
                stats["body_bytes_sent"] += room
        writer.write(conn.data_to_send())

    push()
    while time.monotonic() < deadline:
        try:
            data = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        except (ConnectionError, OSError):
            data = b""
        if not data:
            stats["closed_by_server"] += 1
            return
        try:
            events = conn.receive_data(data)
        except h2.exceptions.H2Error:
            stats["closed_by_server"] += 1
            return
        for event in events:
            if isinstance(event, h2.events.StreamReset):
                stats["streams_reset"] += 1
                want.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                stats["closed_by_server"] += 1
                return
        push()
    stats["open_at_end"] += 1
    writer.close()


async def main():
    work = idle if mode in ("tcp", "h2idle") else stall
    await asyncio.gather(*(work(i) for i in range(count)))


asyncio.run(main())
print(json.dumps(stats))
