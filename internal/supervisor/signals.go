//go:build unix

package supervisor

import (
	"os"
	"syscall"

	"github.com/handoff-go/handoff/internal/launch"
)

// onSignal gives signals the meanings nginx users know:
//
//	TERM, INT, QUIT  drain every worker, then exit; a second one kills them at once
//	HUP, USR2        upgrade; while one runs, queue one follow-up (trigger.go)
//	USR1             forwarded to every worker (reopen logs)
//	WINCH            drain every worker, keep the sockets (connections wait in
//	                 the accept queue) until HUP starts a generation again
//	VTALRM           re-execute the supervisor's own binary in place (Linux;
//	                 `handoff upgrade --self`, selfupgrade_linux.go)
//
// Signals are handled one at a time on the loop, so a storm of them is a
// queue of idempotent requests, not a race.
func (s *Supervisor) onSignal(sig os.Signal) {
	s.log.Debug("handoff: signal", "signal", sig)
	if s.opsSignal(sig) { // HUP as reload, stop delay (ops.go)
		return
	}
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
		s.beginStop("signal "+sig.String(), true)
	case syscall.SIGHUP, syscall.SIGUSR2:
		// systemd (Type=notify-reload, or a reload by kill) is answered
		// for every reload signal: RELOADING=1 now, READY=1 when the
		// upgrade this signal caused, joined or was refused by ends.
		s.sd.send(launch.Reloading("reload signal " + sig.String())...)
		if tr := s.requestUpgrade("signal "+sig.String(), true); tr.op == nil {
			s.sd.send("READY=1", "STATUS=upgrade refused: the supervisor is stopping")
		}
	case syscall.SIGUSR1:
		for _, g := range s.gens {
			for _, w := range g.workers {
				if w.alive() {
					s.signalWorker(w, syscall.SIGUSR1)
				}
			}
		}
	case selfSignal:
		s.onSelfSignal() // selfupgrade_linux.go
	case syscall.SIGWINCH:
		if s.stopping || s.idle {
			return
		}
		s.log.Info("handoff: WINCH: draining every worker; sockets kept until the next upgrade (HUP)")
		s.idle = true
		s.cancelUpgrade("WINCH drained the workers")
		s.drainAll()
		s.sd.send("STATUS=idle: workers drained (WINCH), send HUP to start again")
	}
}
