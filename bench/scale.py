"""Helpers of bench/scale.sh: seeding at scale and timing, each a subcommand.

  scale.py tree DIR FIRST COUNT            COUNT small files DIR/fNNNNNNN.txt, numbered from FIRST
  scale.py users SOCKET FIRST LAST         accounts uFIRST..uLAST-1, through the admin socket
  scale.py passwords SOCKET FIRST LAST COUNT
                                           COUNT app passwords spread over uFIRST..uLAST-1
  scale.py owner SOCKET NAME               user NAME with one app password; prints its
                                           Authorization header value
  scale.py proppatch URL AUTH FIRST COUNT PROPS
                                           PROPPATCH PROPS dead properties onto each of the
                                           files fFIRST..fFIRST+COUNT-1 under URL, one request per
                                           file, over 2 kept-alive connections
  scale.py idle FILE                       the output of bench/idle-connections.sh as TSV rows:
                                           transport, connections, alive, VmRSS KiB, VmHWM KiB,
                                           bytes per connection, a valid client's req/s (empty
                                           when that output does not have it)
  scale.py first-use URL AUTH...           for each Authorization value: a new connection, one
                                           GET, its wall time in ms (one line each)

Seeding goes through the running server's admin socket (one JSON line per connection, the wire
format of src/admin/wire.rs), 4 requests at a time: the server hashes each new secret with
argon2 on its own pool, exactly as `davgate user add` and `davgate app-password create` would,
without a process start per account. Every loop is bounded by its COUNT; sockets time out.
"""
import base64
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

PARALLEL = 4


def admin(sock, request):
    """One admin-socket request; its reply, or SystemExit with the server's error."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(120)
        s.connect(sock)
        s.sendall((json.dumps(request) + "\n").encode())
        line = s.makefile().readline()
    answer = json.loads(line)
    if "ok" not in answer:
        sys.exit(f"admin socket: {request['command']}: {answer}")
    return answer["ok"]


def bulk(sock, requests):
    started = time.monotonic()
    done = 0
    with ThreadPoolExecutor(PARALLEL) as pool:
        for _ in pool.map(lambda r: admin(sock, r), requests):
            done += 1
    seconds = time.monotonic() - started
    print(f"  {done} admin requests in {seconds:.1f} s", file=sys.stderr)


def tree(folder, first, count):
    os.makedirs(folder, exist_ok=True)
    for i in range(first, first + count):
        with open(f"{folder}/f{i:07d}.txt", "w") as f:
            f.write(f"small file {i:07d}\n")


def users(sock, first, last):
    bulk(sock, ({"command": "user_add", "name": f"u{i}", "role": "user", "password": None}
                for i in range(first, last)))


def passwords(sock, first, last, count):
    # The name only has to be unique per owner: a time-based prefix keeps steps apart.
    tag = time.monotonic_ns()
    bulk(sock, ({"command": "app_password_create", "user": f"u{first + i % (last - first)}",
                 "spec": {"name": f"bulk-{tag}-{i}"}} for i in range(count)))


def owner(sock, name):
    """A new user `name` with one app password: prints its Authorization header value."""
    admin(sock, {"command": "user_add", "name": name, "role": "user", "password": None})
    created = admin(sock, {"command": "app_password_create", "user": name,
                           "spec": {"name": "bench-props"}})
    password = created.get("password")  # the reply's fields sit beside its "reply" tag
    if not isinstance(password, str):
        sys.exit(f"admin socket: app_password_create answered no password: {created}")
    print("Basic " + base64.b64encode(f"{name}:{password}".encode()).decode())


def connection(url):
    cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    return cls(url.hostname, url.port, timeout=120)


def proppatch(base, auth, first, count, props):
    url = urllib.parse.urlsplit(base)
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
            'xmlns:Z="urn:davgate-bench"><D:set><D:prop>'
            + "".join(f"<Z:p{j:04d}>value {j:04d} of a bench property</Z:p{j:04d}>"
                      for j in range(props))
            + "</D:prop></D:set></D:propertyupdate>").encode()
    lock = threading.Lock()
    todo = iter(range(first, first + count))

    def worker():
        conn = connection(url)
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            conn.request("PROPPATCH", f"{url.path}f{i:07d}.txt", body,
                         {"Authorization": auth, "Content-Type": "application/xml; charset=utf-8"})
            res = conn.getresponse()
            answer = res.read()
            if res.status != 207 or b"200 OK" not in answer or b"HTTP/1.1 4" in answer \
                    or b"HTTP/1.1 5" in answer:
                # Said from the main thread: a SystemExit in a thread ends only that thread,
                # silently, and the step would be reported as if it had been seeded.
                failures.append(f"PROPPATCH f{i:07d}.txt answered {res.status}: {answer[:300]!r}")
                return

    failures = []
    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit(failures[0])
    seconds = time.monotonic() - started
    print(f"  {count * props} dead properties on {count} files in {seconds:.1f} s",
          file=sys.stderr)


def first_use(target, auths):
    url = urllib.parse.urlsplit(target)
    for auth in auths:
        conn = connection(url)
        started = time.monotonic()
        conn.request("GET", url.path, headers={"Authorization": auth})
        res = conn.getresponse()
        res.read()
        ms = (time.monotonic() - started) * 1000
        conn.close()
        if res.status != 200:
            sys.exit(f"first use: GET {url.path} answered {res.status}")
        print(f"{ms:.2f}")


IDLE_FIELDS = ("transport", "connections", "alive", "rss_kib", "hwm_kib", "bytes_per_connection",
               "valid_rps")


def idle_row(fields):
    """A row of IDLE_FIELDS from whatever names the script's output used."""
    def pick(*names):
        for key, value in fields.items():
            k = key.lower()
            if any(n in k for n in names):
                return value
        return ""

    def kib(*names):
        for key, value in fields.items():
            k = key.lower()
            if any(n in k for n in names) and value not in ("", None):
                v = float(str(value).replace(",", ""))
                return str(round(v * 1024)) if "mib" in k else str(round(v))
        return ""

    connections = fields.get("connections", pick("connections"))
    return [str(fields.get("transport", pick("transport"))),
            str(connections).replace(",", ""), str(pick("alive")).replace(",", ""),
            kib("vmrss", "rss_kib"), kib("vmhwm", "hwm"),
            str(pick("per connection", "bytes_per_connection")).replace(",", ""),
            str(pick("req/s", "rps", "valid")).replace(",", "")]


def idle(path):
    """JSON lines, key=value lines or Markdown tables: bench/idle-connections.sh is another
    helper's and its format may change; any of these with a connections field is read."""
    header = None
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            fields = json.loads(line)
            if "connections" in fields:
                print("\t".join(idle_row(fields)))
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= set("-: ") for c in cells):
                continue
            if any(c.lower() == "connections" for c in cells):
                header = cells
            elif header and len(cells) == len(header):
                print("\t".join(idle_row(dict(zip(header, cells)))))
        elif "connections=" in line:
            fields = dict(w.split("=", 1) for w in line.split() if "=" in w)
            print("\t".join(idle_row(fields)))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "tree":
        tree(args[0], int(args[1]), int(args[2]))
    elif cmd == "users":
        users(args[0], int(args[1]), int(args[2]))
    elif cmd == "passwords":
        passwords(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "owner":
        owner(args[0], args[1])
    elif cmd == "proppatch":
        proppatch(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
    elif cmd == "idle":
        idle(args[0])
    elif cmd == "first-use":
        first_use(args[0], args[1:])
    else:
        sys.exit(f"scale.py: no command {cmd}")


main()
