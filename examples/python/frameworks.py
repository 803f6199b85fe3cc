"""The same answer as examples/hello, as a WSGI app for gunicorn and an ASGI
app for uvicorn, each with the settings or the small hook docs/WORKERS.md
gives so that it loses nothing through upgrades under `handoff run`.

    handoff run --listen http=tcp://127.0.0.1:8080 -- \
        python3 -m gunicorn -k gthread -w 2 --threads 8 --keep-alive 0 \
        --graceful-timeout 20 --chdir examples/python frameworks:wsgi

    handoff run --listen http=tcp://127.0.0.1:8080 -- \
        python3 -m uvicorn --fd 3 --lifespan on \
        --app-dir examples/python frameworks:asgi

cmd/handoff's TestGunicorn*/TestUvicornUnderRun* run them through 20
upgrades under load (docs/WORKERS.md has the numbers for Debian 12's
gunicorn 20.1 and uvicorn 0.17.6).
"""

import asyncio
import os
import socket
import time
from urllib.parse import parse_qs


def _slow_ms(query):
    try:
        return int(parse_qs(query).get("ms", ["0"])[0])
    except ValueError:
        return 0


def wsgi(environ, start_response):
    """gunicorn. X-Pid is the arbiter's pid (the process handoff started and
    upgrades), not the worker's that answers."""
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if environ.get("PATH_INFO") == "/slow":
        time.sleep(_slow_ms(environ.get("QUERY_STRING", "")) / 1000)
    pid = str(os.getppid())
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("X-Pid", pid)]
    if environ.get("HTTP_X_REQUEST_ID"):
        headers.append(("X-Request-Id", environ["HTTP_X_REQUEST_ID"]))
    start_response("200 OK", headers)
    return [(pid + "\nhello from handoff\n").encode()]


def _notify(message):
    """sd_notify: uvicorn does not send READY=1 itself."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.send(message.encode())


async def asgi(scope, receive, send):
    """uvicorn. Two hooks here (a third, for new connections, at the end of
    this file): READY=1 at lifespan startup (the inherited socket
    already listens: connections wait in its queue), and Connection: close
    on every response, because uvicorn's shutdown closes idle keep-alive
    connections at once, racing clients that send on them."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _notify("READY=1")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/slow":
        await asyncio.sleep(_slow_ms(scope["query_string"].decode()) / 1000)
    pid = str(os.getpid()).encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"x-pid", pid), (b"connection", b"close")]
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            headers.append((b"x-request-id", value))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": pid + b"\nhello from handoff\n"})


# uvicorn's graceful shutdown (0.17 to at least 0.30) closes at once every
# connection that is not in the middle of a request, a new one that has not
# sent its request yet included: that request, already on its way (clients
# connect to send one), is reset. Measured: 1 reset in 9,635 requests over
# 20 upgrades. The third hook gives such a connection NEW_CONNECTION_GRACE
# seconds to send it (it is answered, with Connection: close, as every
# response is); uvicorn's shutdown waits for its connections to close, so
# nothing else changes. It patches uvicorn's h11 protocol class, the one
# uvicorn uses without httptools; with httptools the patch is the same on
# uvicorn.protocols.http.httptools_impl.HttpToolsProtocol.
NEW_CONNECTION_GRACE = 1.0


def _grace_new_connections():
    try:
        from uvicorn.protocols.http import h11_impl
    except ImportError:  # not under uvicorn
        return
    shutdown = h11_impl.H11Protocol.shutdown

    def graceful_shutdown(self):
        if self.cycle is None and not self.transport.is_closing():
            def later():
                if not self.transport.is_closing():
                    shutdown(self)
            self.loop.call_later(NEW_CONNECTION_GRACE, later)
            return
        shutdown(self)

    h11_impl.H11Protocol.shutdown = graceful_shutdown


_grace_new_connections()
