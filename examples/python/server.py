#!/usr/bin/env python3
"""A real HTTP server for `handoff run`, standard library only.

    handoff run --listen http=tcp://127.0.0.1:8080 -- python3 server.py

It speaks the same protocols as any systemd service, so it runs unchanged
under systemd socket activation too:

* Socket activation: the listening socket arrives as fd 3 (LISTEN_FDS,
  LISTEN_FDNAMES). The fds are ours only if LISTEN_PID is our own pid; the
  handoff supervisor guarantees that with a tiny shim that sets it just
  before exec. Without LISTEN_FDS it binds --addr itself.
* Readiness: once it serves, it sends READY=1 to the unix datagram socket
  named by NOTIFY_SOCKET (a path, or @name in Linux's abstract namespace).
  It pings WATCHDOG=1 if WATCHDOG_USEC asks for it.
* Drain on SIGTERM: stop accepting (connections waiting in the shared
  accept queue go to the next generation), finish requests in flight,
  answer the next request on each keep-alive connection with
  "Connection: close", and close connections only after they stayed quiet
  for --drain-idle: closing a connection a client is writing to at that
  moment would fail its request. --drain-timeout caps it all.
* SIGUSR1 (forwarded by the supervisor) would reopen logs; it only logs.

Like examples/hello, every response carries the serving pid in an X-Pid
header and as the first line of the body; /slow?ms=N sleeps N ms first; any
method is accepted; an X-Request-Id request header is echoed back.
"""

import argparse
import http.server
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse

PID = os.getpid()


def log(msg):
    print(f"server.py[{PID}]: {msg}", file=sys.stderr, flush=True)


def inherited_socket(name):
    """Return the listening socket passed by socket activation, or None."""
    fds = os.environ.get("LISTEN_FDS")
    if not fds:
        return None
    if os.environ.get("LISTEN_PID") != str(PID):
        # As libsystemd does: these fds were meant for another process.
        log(f"LISTEN_FDS={fds} ignored: LISTEN_PID={os.environ.get('LISTEN_PID')!r} is not {PID}")
        return None
    names = os.environ.get("LISTEN_FDNAMES", "").split(":")
    fd = 3
    for i in range(int(fds)):
        if i < len(names) and names[i] == name:
            fd = 3 + i
            break
    for var in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        os.environ.pop(var, None)  # our children must not take them
    sock = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    return sock


def notify(*assignments):
    """Send one sd_notify datagram; a no-op without NOTIFY_SOCKET."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]  # the Linux abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto("\n".join(assignments).encode(), path)


class Conns:
    """Tracks open connections so the drain can tell busy from quiet ones."""

    def __init__(self):
        self.lock = threading.Lock()
        self.conns = {}  # socket -> [busy, last activity]
        self.draining = False
        self.drain_started = 0.0

    def add(self, conn):
        with self.lock:
            self.conns[conn] = [False, time.monotonic()]

    def remove(self, conn):
        with self.lock:
            self.conns.pop(conn, None)

    def busy(self, conn, busy):
        with self.lock:
            if conn in self.conns:
                self.conns[conn] = [busy, time.monotonic()]
            return self.draining

    def close_quiet(self, idle):
        """Shut down connections quiet for `idle` seconds; return how many are left."""
        now = time.monotonic()
        with self.lock:
            for conn, (busy, last) in list(self.conns.items()):
                if not busy and now - max(last, self.drain_started) >= idle:
                    try:
                        conn.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            return len(self.conns)


CONNS = Conns()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def setup(self):
        super().setup()
        CONNS.add(self.connection)

    def finish(self):
        CONNS.remove(self.connection)
        super().finish()

    def parse_request(self):
        ok = super().parse_request()
        if ok and CONNS.busy(self.connection, True):
            self.close_connection = True
        return ok

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # read what the client sent, so keep-alive can go on
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/slow":
            ms = urllib.parse.parse_qs(url.query).get("ms", ["0"])[0]
            try:
                time.sleep(max(int(ms), 0) / 1000)
            except ValueError:
                pass
        body = f"{PID}\nhello from python\n".encode()
        self.send_response(200)
        self.send_header("X-Pid", str(PID))
        rid = self.headers.get("X-Request-Id")
        if rid:
            self.send_header("X-Request-Id", rid)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        # Draining: this is the connection's last answer.
        if CONNS.busy(self.connection, True) or self.close_connection:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        CONNS.busy(self.connection, False)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = answer

    def log_message(self, fmt, *args):
        pass  # quiet: the load tests send thousands of requests


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--addr", default="127.0.0.1:8080", help="address to bind without socket activation")
    ap.add_argument("--name", default="http", help="LISTEN_FDNAMES entry to serve")
    ap.add_argument("--drain-idle", type=float, default=1.0, help="seconds a keep-alive connection must stay quiet before the drain closes it")
    ap.add_argument("--drain-timeout", type=float, default=30.0, help="seconds after which the drain closes everything")
    args = ap.parse_args()

    sock = inherited_socket(args.name)
    if sock is not None:
        server = Server(sock.getsockname()[:2], Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = sock
    else:
        host, _, port = args.addr.rpartition(":")
        server = Server((host, int(port)), Handler)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: log("SIGUSR1: no log file to reopen"))

    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    serving.start()
    notify("READY=1", f"MAINPID={PID}", "STATUS=serving")

    usec = os.environ.get("WATCHDOG_USEC")
    if usec and os.environ.get("WATCHDOG_PID", str(PID)) == str(PID):
        def ping():
            while not stop.wait(int(usec) / 2e6):
                notify("WATCHDOG=1")
        threading.Thread(target=ping, daemon=True).start()

    # Not stop.wait() without a timeout: the kernel delivers SIGTERM to any
    # thread, and when it is not the main one, a main thread blocked on a
    # lock is never woken to run the handler (seen here: 1 worker in 7 kept
    # serving until the drain timeout killed it with requests in flight).
    while not stop.wait(0.1):
        pass
    notify("STOPPING=1", "STATUS=draining")
    # Stop accepting. Our copy of the listening socket is closed; the
    # supervisor's copy keeps the accept queue for the next generation.
    server.shutdown()
    server.socket.close()
    with CONNS.lock:
        CONNS.draining = True
        CONNS.drain_started = time.monotonic()
    deadline = time.monotonic() + args.drain_timeout
    while CONNS.close_quiet(args.drain_idle) > 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    log("drained")


if __name__ == "__main__":
    main()
