// Package proto names the handoff-specific parts of the protocol between
// generations, and their version.
//
// Everything that can be said with systemd's protocols is said with them:
// sockets travel as LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES with fds from 3, and
// readiness as sd_notify datagrams on NOTIFY_SOCKET. What systemd has no word
// for lives in the HANDOFF_* variables below and in the X_HANDOFF_PROTOCOL field
// of the READY=1 datagram, so two generations built with different versions of
// the library can tell whether they understand each other.
//
// Version history:
//
//	1: the first version (this one).
package proto

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is the protocol version this build speaks. A new generation refuses
// to start when its parent announces a version it does not know, and a parent
// refuses a successor that reports an unknown version in its READY=1 datagram,
// so that a mismatch is an error message and never a silent misunderstanding.
const Version = 1

// Environment variables that a generation passes to the next one.
const (
	// EnvProtocol holds the protocol version of the process that started
	// this one. Its presence means "you were started by handoff".
	EnvProtocol = "HANDOFF_PROTOCOL"
	// EnvGeneration counts generations: 1 for the first process, +1 for each
	// upgrade.
	EnvGeneration = "HANDOFF_GENERATION"
	// EnvStderrFD names an fd holding the parent's real stderr. The child's fd 2
	// is a pipe to the parent until it is ready (so a failed start can be
	// reported with the child's last words); at Ready the child moves this fd
	// onto fd 2, so that its output no longer depends on a parent that is about
	// to exit.
	EnvStderrFD = "HANDOFF_STDERR_FD"
	// EnvUpstreamNotify keeps systemd's NOTIFY_SOCKET while NOTIFY_SOCKET
	// itself points at the upgrading parent. The child talks to systemd through
	// it once it is the serving generation.
	EnvUpstreamNotify = "HANDOFF_NOTIFY_SOCKET"
	// EnvSupervisor holds the pid of a handoff supervisor (handoff run) that
	// started this process. Under a supervisor, upgrades and signals are the
	// supervisor's business, not the worker's.
	EnvSupervisor = "HANDOFF_SUPERVISOR_PID"
	// EnvControl is the supervisor's control socket.
	EnvControl = "HANDOFF_CONTROL"
	// EnvShimExec asks the process to act as the LISTEN_PID shim: set
	// LISTEN_PID to its own pid and execve this path (see package activation).
	EnvShimExec = "HANDOFF_SHIM_EXEC"
	// EnvAdoptFDs=1 tells a handoff program that the LISTEN_FDS are its own
	// although LISTEN_PID is absent: its parent could not know its pid
	// before exec. The program sets LISTEN_PID to its own pid during
	// package initialisation, before any of its code can read it. It saves
	// the shim's second exec when the new generation is known to be a
	// handoff program (a self-upgrade of the same executable).
	EnvAdoptFDs = "HANDOFF_ADOPT_FDS"
	// EnvHandover is the previous generation's handover socket (package
	// internal/handover): the unix socket on which it passes live
	// connections and its state blob to this generation. Set by a
	// self-upgrading parent for the upgrade, or by the supervisor, which
	// relays the path the old worker announced in HandoverField.
	EnvHandover = "HANDOFF_HANDOVER_SOCKET"
	// EnvHandoverPID is the pid of the process listening on EnvHandover:
	// the new generation accepts no other peer there. Absent, it is the
	// parent's pid (self-upgrade).
	EnvHandoverPID = "HANDOFF_HANDOVER_PID"
	// EnvState=1 says the previous generation will send a state blob on
	// the handover channel, so the new generation knows whether to wait for
	// one.
	EnvState = "HANDOFF_STATE"
	// EnvHandoverPeer says whom a supervised worker's own handover socket
	// (the one it announces in HandoverField) accepts as its successor.
	// Absent (the default), a process of the worker's uid that descends
	// from its supervisor (HANDOFF_SUPERVISOR_PID) on Linux: the workers
	// that supervisor starts. HandoverPeerUID: any process of the worker's
	// uid, as a takeover trusts (docs/TAKEOVER.md): a supervisor run with
	// --takeover sets it for its workers, because the workers of the
	// supervisor that takes over from it descend from that one, not from
	// it. Any other value keeps the default.
	EnvHandoverPeer = "HANDOFF_HANDOVER_PEER"
	// EnvDraining lists the pids of older generations that may still be
	// draining, comma-separated (FormatPIDs), so that a self-upgrading
	// library can cap how many pile up (Options.MaxDraining) across
	// processes. A supervisor counts its own generations and does not set it.
	EnvDraining = "HANDOFF_DRAINING"
	// EnvWorkerPID is given to a supervisor's readiness probe (--ready=exec),
	// with EnvGeneration: the pid of the worker the probe is to check.
	EnvWorkerPID = "HANDOFF_WORKER_PID"
	// EnvTakeover is the takeover socket's path (Options.Takeover, for
	// programs that take it from the environment): the serving generation
	// listens there, and a process started independently with the same
	// path connects and takes its sockets over (docs/TAKEOVER.md). Unlike
	// the variables above it is the operator's, not a parent's message to
	// its child: it is read, never removed.
	EnvTakeover = "HANDOFF_TAKEOVER"
)

// HandoverPeerUID is the EnvHandoverPeer value that widens a worker's
// successor check to its uid alone.
const HandoverPeerUID = "uid"

// Prefix starts the name of every handoff variable: a parent removes all
// of them from the environment it passes on, so that nothing it was told
// itself reaches its child by accident.
const Prefix = "HANDOFF_"

// Fields a supervised worker adds to its READY=1 datagram, so the
// supervisor can introduce the worker that replaces it (the supervisor
// only relays them, into EnvHandover, EnvHandoverPID and EnvState).
const (
	// HandoverField holds the path of the worker's handover socket.
	HandoverField = "X_HANDOFF_HANDOVER"
	// StateField=1 says the worker will send a state blob to its successor.
	StateField = "X_HANDOFF_STATE"
)

// ReadyField is the sd_notify field in which a handoff program reports its
// protocol version along with READY=1. systemd ignores unknown X_ fields.
const ReadyField = "X_HANDOFF_PROTOCOL"

// ReadyVersion is the ReadyField assignment a handoff program adds to its
// READY=1 datagram: "X_HANDOFF_PROTOCOL=<Version>".
func ReadyVersion() string { return ReadyField + "=" + strconv.Itoa(Version) }

// ErrVersion reports a peer that speaks a protocol version this build does not.
var ErrVersion = errors.New("unsupported handoff protocol version")

// Check parses a version announced by a peer and reports whether this build
// can talk to it.
func Check(announced string) error {
	v, err := strconv.Atoi(announced)
	if err != nil {
		return fmt.Errorf("%w: %q is not a version number", ErrVersion, announced)
	}
	if v != Version {
		return fmt.Errorf("%w: peer speaks %d, this build speaks %d", ErrVersion, v, Version)
	}
	return nil
}

// FormatPIDs renders pids the way EnvDraining holds them: decimal,
// comma-separated, in order ("" for none).
func FormatPIDs(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// ParsePIDs reads a FormatPIDs list. It is lenient, as a reader of its own
// environment should be: entries that are not positive numbers are
// skipped, never an error.
func ParsePIDs(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out
}
