// Package handoff restarts and upgrades network servers without failing a
// request: the running generation hands its listening sockets to the next
// one, waits until the next one says it is ready, then drains and exits. If
// the next one fails to start, crashes or never becomes ready, the running
// one keeps serving and the error says why.
//
// The happy path, for an *http.Server:
//
//	func main() {
//		srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
//		err := handoff.ListenAndServe(context.Background(), srv, handoff.Options{
//			PIDFile: "/run/hello.pid",
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//	}
//
// Build, run, and `kill -HUP $(cat /run/hello.pid)` after replacing the
// binary: the new binary starts with the same sockets, the old one stops
// accepting when the new one is ready, finishes its requests and exits.
// SIGTERM drains and exits.
//
// The same program runs, unchanged:
//
//   - plain: no parent, fresh sockets;
//   - self-upgrading: SIGHUP, SIGUSR2 or Handoff.Upgrade start the
//     executable from disk with the sockets;
//   - socket-activated by systemd (or systemd-socket-activate);
//   - under the handoff supervisor (`handoff run -- ./server`), which keeps a
//     stable pid and performs the upgrades itself.
//
// For other servers, use the parts:
//
//	h, err := handoff.New(handoff.Options{})
//	defer h.Stop()
//	ln, err := h.Listen("tcp", "127.0.0.1:8080") // inherited, or bound
//	go serve(ln)
//	h.Ready()      // the previous generation may stop accepting
//	<-h.Draining() // a successor took over, or SIGTERM: finish and return
//
// # Live connections and state
//
// Before Ready sends READY=1, a new generation connects to the previous
// one over a private unix socket (0600, peer credentials checked), and on
// it receives, in order: the previous generation's state blob
// (Options.SaveState there; State here, before Ready), its idle HTTP/1.1
// keep-alive connections (Serve, unless Options.NoMigrate: they are
// answered here on the same TCP connection), and the program's own
// connections (PassConns there; InheritedConns here):
//
//	// old generation, once Draining is closed: stop reading c, then
//	n, err := h.PassConns(ctx, handoff.Conn{Raw: c, Buffered: unread, Meta: session})
//
//	// new generation, before Ready
//	for c := range h.InheritedConns() {
//		go resume(c.NetConn(), c.Meta) // NetConn reads c.Buffered first
//	}
//
// Connections that cannot move (TLS, HTTP/2, WebSockets) drain: HTTP/2
// gets GOAWAY, WebSockets a close frame with status 1012 (package
// github.com/handoff-go/handoff/wsclose).
//
// # Signals
//
// Unless Options.NoSignals, New handles these (nginx's meanings):
//
//	SIGHUP, SIGUSR2  upgrade (Upgrade). While an upgrade runs, the signal
//	                 queues one follow-up that looks the program up on disk
//	                 again when the running one ends (the newest deploy
//	                 wins); after a successful upgrade the follow-up, and any
//	                 later upgrade signal to the old generation, is passed
//	                 on to the new generation as SIGHUP. Each one is
//	                 answered to systemd: RELOADING=1 at once, READY=1 with a
//	                 STATUS when its upgrade ends. Not handled under the
//	                 supervisor, which owns upgrades.
//	SIGTERM, SIGINT, SIGQUIT
//	                 drain and exit (Draining is closed). While a new
//	                 generation starts, it is killed first; during its
//	                 probation it keeps serving (this is a stop of the old
//	                 generation only).
//	a second SIGTERM, SIGINT or SIGQUIT during the drain
//	                 close what is left now: the drain deadline brought
//	                 forward. A newer generation retiring this one at
//	                 Options.MaxDraining sends exactly that, then SIGKILL
//	                 if it is still there 2 s later. Under the supervisor,
//	                 a repeat that comes while the supervisor dies is its
//	                 parent-death signal again, not a second stop: ignored.
//
// # What importing the package does
//
// On Unix, importing handoff installs a package init function that runs
// before main. It does nothing unless the process was started by an
// upgrading handoff parent with one of two variables set: with
// HANDOFF_ADOPT_FDS=1 it sets LISTEN_PID to its own pid and returns; with
// HANDOFF_SHIM_EXEC=<program> it is the LISTEN_PID shim, and it replaces
// the process with that program (execve, same pid, LISTEN_PID set), or, if
// the exec fails, prints why and exits with status 127, as a shell does. No
// code of the importing program runs on that path. On Windows the package
// has no init function.
//
// # Protocol
//
// Sockets are passed with systemd's socket-activation variables
// (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, fds from 3) and readiness with
// sd_notify datagrams (READY=1, STATUS=, MAINPID=, RELOADING=1, STOPPING=1),
// so systemd, the supervisor and programs in other languages interoperate.
// What systemd has no word for is in HANDOFF_* variables and a versioned
// X_HANDOFF_PROTOCOL field; see internal/proto.
//
// # Platforms
//
// Linux is the primary platform. The package builds and works on darwin
// and freebsd with these differences: notifications carry no kernel-verified
// sender pid there (the notify socket's 0600 mode and 0700 directory are the
// only guard); the LISTEN_PID shim runs the executable path this process
// started from rather than /proc/self/exe, so replacing that file changes
// the shim too; and there is no parent-death signal.
//
// On Windows the package builds and serves plain: Listen binds fresh
// sockets, nothing is inherited, Ready, Draining, Drain and Stop work, and
// Ctrl-C or the console's close and shutdown events drain as SIGTERM does.
// Upgrade returns ErrNotSupported (sockets cannot be passed to another
// process there), PassConns returns ErrNoSuccessor, InheritedConns is
// closed and State returns ErrNoState. The supervisor does not run on
// Windows.
package handoff
