package supervisor

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/preflight"
	"github.com/handoff-go/handoff/internal/proto"
)

// Self-upgrade: the supervisor re-executes its own binary from disk in
// place (`handoff upgrade --self`, SIGVTALRM), as HAProxy's master and
// einhorn do. Same pid, so systemd, a container runtime and pid files see
// nothing; its workers stay its children and keep serving; the listening
// sockets, the control socket, the workers' notify sockets and stderr
// pipes, the held executables (the rollback bytes) and the counters reach
// the new binary through a versioned state document (selfstate_linux.go).
//
// The order matters:
//
//  1. Refuse while anything is in motion: an upgrade (or a queued one), a
//     worker starting, a crash restart pending, a stop. Draining workers
//     are carried over with their drain deadline.
//  2. Pre-flight, with the old supervisor serving: the internal/preflight
//     checks on the file (exists, regular, executable, ELF for this
//     machine), then the file is run as `handoff internal-state-version`
//     (bounded by selfCheckTimeout) and must print this build's
//     proto.SupervisorStateVersion. A refusal ends here: nothing changed.
//  3. On the loop, which stays blocked until the exec: snapshot, write the
//     memfd, clear close-on-exec on exactly the descriptors the document
//     names, and execve from the spawner's thread (spawner.exec): the
//     thread every worker was forked from, the main thread under `handoff
//     run` (mainthread.go), so no worker gets its parent-death signal.
//     An execve that fails returns: close-on-exec is set again, the
//     duplicates closed, and this supervisor carries on.
//
// What is lost: a notification a worker sent in the last instant before
// the exec, and the metrics' histograms (the counters and last-upgrade
// gauges carry over: metrics.Counts). Signals
// that arrive between the execve and the new binary's signal handlers take
// their default action: do not send TERM at that instant.

// selfCheckTimeout bounds the new binary's `internal-state-version` run.
const selfCheckTimeout = 10 * time.Second

var _ control.SelfUpgrader = (*Supervisor)(nil)

// UpgradeSelf re-executes the supervisor from its binary on disk; see
// control.SelfUpgrader for how the stream ends.
func (s *Supervisor) UpgradeSelf(ctx context.Context) <-chan control.Event {
	l := s.selfLog()
	ch := l.subscribe(ctx, nil)
	go s.upgradeSelf(l, "control socket")
	return ch
}

func (s *Supervisor) selfLog() *eventLog {
	return newEventLog(func(ev control.Event) {
		s.log.Info("handoff: self-upgrade: "+string(ev.Stage), "message", ev.Message)
	})
}

// onSelfSignal starts a self-upgrade for SIGVTALRM; its outcome is logged.
func (s *Supervisor) onSelfSignal() { go s.upgradeSelf(s.selfLog(), "signal SIGVTALRM") }

// selfBusy says why a self-upgrade cannot start now, or "".
func (s *Supervisor) selfBusy() string {
	switch {
	case s.stopping || s.operations.lameDuck.Load():
		return "the supervisor is stopping"
	case s.upgrade != nil:
		return fmt.Sprintf("an upgrade (to generation %d) is running; try again when it has ended", s.upgrade.gen)
	case s.next != nil:
		return "an upgrade is queued; try again when it has ended"
	case s.tk != nil && s.tk.busy:
		return "a takeover is in progress"
	case s.tk != nil && s.tk.recv != nil:
		return "this supervisor is taking over; try again once it serves"
	case s.reexecs > 0 && !s.spawner.onMain:
		// The workers adopted at the last re-exec have the main thread
		// for parent, the ones forked since another: a second execve ends
		// one of the two (mainthread.go).
		return "a second re-exec needs the spawner on the main thread (supervisor.WithMainThread, as handoff run does)"
	}
	for _, g := range s.gens {
		for _, w := range g.workers {
			if w.state == workerStarting {
				return fmt.Sprintf("worker %d (generation %d) is starting; try again when it is ready", w.pid(), g.n)
			}
		}
	}
	for i, w := range s.slots {
		if w != nil && !w.alive() {
			return fmt.Sprintf("slot %d waits for a crash restart; try again when it serves", i)
		}
	}
	return ""
}

func (s *Supervisor) upgradeSelf(l *eventLog, source string) {
	still := fmt.Sprintf("; supervisor pid %d serves on unchanged", pid())
	refuse := func(reason, msg string) {
		l.emit(control.Event{Stage: control.StageRefused, Reason: reason, Message: "self-upgrade refused: " + msg + still})
	}
	var busy string
	if !s.call(func() {
		busy = s.selfBusy()
		if busy == "" && s.selfUpgrading {
			busy = "another self-upgrade is running"
		}
		if busy == "" {
			s.selfUpgrading = true
		}
	}) {
		refuse("", "the supervisor has exited")
		return
	}
	if busy != "" {
		refuse("", busy)
		return
	}
	defer s.call(func() { s.selfUpgrading = false })
	path := s.self
	l.emit(control.Event{Stage: control.StageStarting, Path: path, PID: pid(),
		Message: fmt.Sprintf("self-upgrade (%s): checking %s", source, path)})
	if path == "" {
		refuse(control.ReasonMissing, "the supervisor's own executable is unknown")
		return
	}
	if _, err := preflight.ProgramAt(path, path, ""); err != nil {
		refuse(preflight.Reason(err), err.Error())
		return
	}
	if err := s.checkStateVersion(path); err != nil {
		refuse(control.ReasonStateVersion, err.Error())
		return
	}
	l.emit(control.Event{Stage: control.StageInfo, Path: path, PID: pid(),
		Message: fmt.Sprintf("%s speaks supervisor state version %d; re-executing it in place as pid %d", path, proto.SupervisorStateVersion, pid())})
	var err error
	s.call(func() { err = s.reexec(path) })
	if busy, ok := strings.CutPrefix(errString(err), errSelfBusy.Error()+": "); ok {
		refuse("", busy)
		return
	}
	l.emit(control.Event{Stage: control.StageFailed, Path: path,
		Message: fmt.Sprintf("self-upgrade failed: %v; supervisor pid %d carries on with its old binary", err, pid())})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkStateVersion runs path as `handoff internal-state-version` and
// checks that it prints this build's state version.
func (s *Supervisor) checkStateVersion(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), selfCheckTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, proto.StateVersionCommand)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, proto.Prefix) {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out := &cappedBuffer{max: probeOutputMax}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = probeWaitDelay
	err := s.spawner.startCmd(cmd) // the reaper leaves its exit status to us
	if err == nil {
		err = cmd.Wait()
		s.spawner.forget(cmd.Process.Pid)
	}
	text := strings.TrimSpace(out.String())
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %v", selfCheckTimeout)
		}
		return fmt.Errorf("%s %s: %v (output %q): not a handoff that can take this supervisor over", path, proto.StateVersionCommand, err, text)
	}
	v, convErr := strconv.Atoi(text)
	if convErr != nil {
		return fmt.Errorf("%s %s printed %q, not a state version", path, proto.StateVersionCommand, text)
	}
	if v != proto.SupervisorStateVersion {
		return fmt.Errorf("%s speaks supervisor state version %d, this supervisor writes %d", path, v, proto.SupervisorStateVersion)
	}
	return nil
}

// reexec is the point of no return. It runs on the loop and returns only
// when the execve failed (or the supervisor became busy meanwhile,
// errSelfBusy); this supervisor then carries on as before.
func (s *Supervisor) reexec(path string) error {
	if busy := s.selfBusy(); busy != "" {
		return fmt.Errorf("%w: %s", errSelfBusy, busy)
	}
	h, err := s.snapshot()
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	memfd, err := writeState(&h.state)
	if err != nil {
		h.abort()
		return err
	}
	h.dups = append(h.dups, memfd)
	h.keep = append(h.keep, memfd)
	env := []string{proto.EnvSupervisorState + "=" + strconv.Itoa(memfd)}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, proto.EnvSupervisorState+"=") {
			env = append(env, kv)
		}
	}
	s.log.Info("handoff: self-upgrade: re-executing", "path", path, "pid", pid(), "workers", s.alive(), "state_version", proto.SupervisorStateVersion)
	s.sd.flush(sendTimeout) // what is queued for systemd must not die with this image
	for _, fd := range h.keep {
		clearCloseOnExec(fd)
	}
	err = s.spawner.exec(path, os.Args, env)
	// Still here: the execve failed, and nothing of the handover happened.
	for _, fd := range h.keep {
		unix.CloseOnExec(fd)
	}
	h.abort()
	s.log.Error("handoff: self-upgrade: execve failed; this supervisor carries on", "path", path, "err", err)
	return fmt.Errorf("execve %s: %w", path, err)
}

func clearCloseOnExec(fd int) {
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags&^unix.FD_CLOEXEC)
	}
}

// adoptUnixListener makes the control listener of an inherited fd; it
// removes its socket file at Close as the one control.Listen made did.
func adoptUnixListener(fd int, path string) (*net.UnixListener, error) {
	f := os.NewFile(uintptr(fd), path)
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("fd %d is not a unix listener", fd)
	}
	ul.SetUnlinkOnClose(true)
	return ul, nil
}
