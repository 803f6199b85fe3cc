#!/usr/bin/env node
// A real HTTP server for `handoff run`, Node's standard library only.
//
//     handoff run --listen http=tcp://127.0.0.1:8080 -- node server.js
//
// It follows the worker contract (docs/WORKERS.md):
//
// * Sockets: the listening socket arrives as fd 3 (LISTEN_FDS,
//   LISTEN_FDNAMES); it is ours only if LISTEN_PID is our pid. Without
//   LISTEN_FDS it binds --addr itself.
// * Readiness: once it listens it sends READY=1 to $NOTIFY_SOCKET. Node
//   has no unix datagram sockets, so it runs `systemd-notify --ready`
//   (a child, so the supervisor accepts it by lineage); without
//   systemd-notify run it with `handoff run --ready delay:200ms`.
// * Drain on SIGTERM: stop accepting (connections still in the shared
//   accept queue go to the next generation), finish requests in flight,
//   answer the next request on every keep-alive connection with
//   "Connection: close", and close a keep-alive connection only after it
//   stayed quiet for --drain-idle: closing one a client is writing to at
//   that moment resets its request. Node's own server.close() does not do
//   this: since Node 19 it closes the connections idle at that instant at
//   once (racing clients that send on them), and leaves the busy ones open
//   with keep-alive on, until keepAliveTimeout or the drain timeout.
//   --drain-timeout caps it all.
//
// Like examples/hello, every response carries the serving pid in an X-Pid
// header and as the first line of the body; /slow?ms=N sleeps N ms first;
// any method is accepted; an X-Request-Id request header is echoed back.
'use strict';

const http = require('node:http');
const net = require('node:net');
const { execFile } = require('node:child_process');

const PID = process.pid;

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const addr = arg('addr', '127.0.0.1:8080');
const fdName = arg('name', 'http');
const drainIdle = Number(arg('drain-idle', '1')) * 1000;
const drainTimeout = Number(arg('drain-timeout', '30')) * 1000;

function log(msg) {
  process.stderr.write(`server.js[${PID}]: ${msg}\n`);
}

// inheritedFD returns the fd of the socket named fdName passed by socket
// activation, or -1.
function inheritedFD() {
  const n = Number(process.env.LISTEN_FDS || 0);
  if (!n) return -1;
  if (process.env.LISTEN_PID !== String(PID)) {
    log(`LISTEN_FDS=${n} ignored: LISTEN_PID=${process.env.LISTEN_PID} is not ${PID}`);
    return -1;
  }
  const names = (process.env.LISTEN_FDNAMES || '').split(':');
  let fd = 3;
  for (let i = 0; i < n; i++) {
    if (names[i] === fdName) { fd = 3 + i; break; }
  }
  delete process.env.LISTEN_FDS; // our children must not take them
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDNAMES;
  return fd;
}

function notify(...assignments) {
  if (!process.env.NOTIFY_SOCKET) return Promise.resolve();
  return new Promise((resolve) => {
    execFile('systemd-notify', [`--pid=${PID}`, ...assignments], (err) => {
      if (err) log(`systemd-notify ${assignments.join(' ')}: ${err.message}`);
      resolve();
    });
  });
}

// Connection bookkeeping: busy while a request is being answered, and
// when it last was, so the drain can tell quiet connections from busy ones.
const conns = new Map(); // socket -> { busy, last }
let draining = false;
let drainStart = 0;

const server = http.createServer((req, res) => {
  const c = conns.get(req.socket);
  if (c) { c.busy = true; c.last = Date.now(); }
  const url = new URL(req.url, 'http://x');
  const ms = url.pathname === '/slow' ? Math.max(Number(url.searchParams.get('ms')) || 0, 0) : 0;
  req.resume(); // read what the client sent, so keep-alive can go on
  req.on('end', () => setTimeout(() => {
    const body = `${PID}\nhello from node\n`;
    res.setHeader('X-Pid', String(PID));
    const rid = req.headers['x-request-id'];
    if (rid) res.setHeader('X-Request-Id', rid);
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    if (draining) res.setHeader('Connection', 'close'); // this connection's last answer
    res.end(req.method === 'HEAD' ? undefined : body);
  }, ms));
  res.on('finish', () => {
    if (c) { c.busy = false; c.used = true; c.last = Date.now(); }
  });
});
// A client sending on a connection Node times out would see a reset: keep
// Node's idle timeout above what clients use between requests.
server.keepAliveTimeout = 65 * 1000;
server.on('connection', (sock) => {
  const c = { busy: false, used: false, last: Date.now() };
  conns.set(sock, c);
  sock.on('data', () => { c.last = Date.now(); }); // a request begins, even before its headers end
  sock.on('close', () => conns.delete(sock));
});

function drain() {
  if (draining) return;
  draining = true;
  drainStart = Date.now();
  notify('STOPPING=1', 'STATUS=draining');
  // Stop accepting: our copy of the listening socket is closed; the
  // supervisor's copy keeps the accept queue for the next generation.
  // Not server.close(): since Node 19 it also closes every idle keep-alive
  // connection at once (closeIdleConnections), resetting the request of a
  // client that is sending on one at that moment.
  net.Server.prototype.close.call(server);
  const deadline = drainStart + drainTimeout;
  // The check runs in the event loop's check phase (setImmediate), after
  // the poll phase has read whatever arrived: a process descheduled for
  // longer than --drain-idle wakes with requests in its sockets' buffers,
  // and judging quietness from the timer alone would reset them.
  const tick = setInterval(() => setImmediate(closeQuiet), 20);
  function closeQuiet() {
    const now = Date.now();
    for (const [sock, c] of conns) {
      // A connection accepted but not used yet has a request coming (clients
      // connect to send one): it waits for it, answered with Connection:
      // close, like a busy one; Node's headersTimeout or --drain-timeout
      // bound the wait.
      if (now >= deadline || (c.used && !c.busy && now - Math.max(c.last, drainStart) >= drainIdle)) {
        sock.destroy();
      }
    }
    if (conns.size === 0) {
      clearInterval(tick);
      log('drained');
      process.exit(0);
    }
  }
}

process.on('SIGTERM', drain);
process.on('SIGINT', drain);
process.on('SIGUSR1', () => log('SIGUSR1: no log file to reopen'));

const fd = inheritedFD();
const onListening = () => notify('--ready', 'STATUS=serving');
if (fd >= 0) {
  server.listen({ fd }, onListening);
} else {
  const i = addr.lastIndexOf(':');
  server.listen(Number(addr.slice(i + 1)), addr.slice(0, i), onListening);
}
