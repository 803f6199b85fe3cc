//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/proto"
)

// relayWorker is a supervised worker that only plays the announcing side
// of the handover protocol. At each start it reads what to announce from
// the mode file (so the test decides per generation), writes the HANDOFF_
// part of its environment to DIR/env-PID.json, then sends READY=1 with
// the announcement; "{pid}" in the announced path becomes its pid. With
// "die_when_introduced" it exits 3 once the predecessor it was introduced
// to has exited, that is once it is serving alone: a death in probation.
const relayWorker = `
import json, os, signal, socket, sys, time

mode_file, out_dir = sys.argv[1], sys.argv[2]
with open(mode_file) as f:
    mode = json.load(f)
pid = os.getpid()
env = {k: v for k, v in os.environ.items() if k.startswith("HANDOFF_")}
tmp = os.path.join(out_dir, "env-%d.json.tmp" % pid)
with open(tmp, "w") as f:
    json.dump(env, f)
os.rename(tmp, os.path.join(out_dir, "env-%d.json" % pid))

signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
msg = ["READY=1", "X_HANDOFF_PROTOCOL=1"]
if mode.get("handover"):
    msg.append("X_HANDOFF_HANDOVER=" + mode["handover"].replace("{pid}", str(pid)))
if mode.get("state"):
    msg.append("X_HANDOFF_STATE=1")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto("\n".join(msg).encode(), os.environ["NOTIFY_SOCKET"])

pred = int(env.get("HANDOFF_HANDOVER_PID", "0"))
if mode.get("die_when_introduced") and pred:
    while os.path.exists("/proc/%d" % pred):  # reaped by the supervisor soon after the drain
        time.sleep(0.01)
    sys.exit(3)
while True:
    signal.pause()
`

// relayWorld runs relayWorker under a supervisor.
type relayWorld struct {
	t    *testing.T
	dir  string // env files and the mode file
	sock string // where announced handover sockets "are" (never bound: the supervisor only relays the path)
	mode string
	s    *sup
}

type relayMode struct {
	Handover          string `json:"handover,omitempty"`
	State             bool   `json:"state,omitempty"`
	DieWhenIntroduced bool   `json:"die_when_introduced,omitempty"`
}

// newRelayWorld starts the supervisor with --workers n and flags; the first
// generation announces a valid handover path.
func newRelayWorld(t *testing.T, workers int, flags ...string) *relayWorld {
	t.Helper()
	py := python(t)
	r := &relayWorld{t: t, dir: t.TempDir()}
	// Announced paths must stay short whatever TMPDIR is.
	sock, err := os.MkdirTemp("/tmp", "hr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	r.sock = sock
	r.mode = filepath.Join(r.dir, "mode.json")
	script := filepath.Join(r.dir, "worker.py")
	if err := os.WriteFile(script, []byte(relayWorker), 0o644); err != nil {
		t.Fatal(err)
	}
	r.setMode(relayMode{Handover: r.goodPath()})
	flags = append(append(slices.Clone(fastFlags), "--workers", itoa(workers)), flags...)
	r.s = startSup(t, flags, py, script, r.mode, r.dir)
	return r
}

// goodPath is the announcement template of a valid socket path, and
// pathOf what a worker with that pid announces with it.
func (r *relayWorld) goodPath() string { return filepath.Join(r.sock, "h-{pid}.sock") }
func (r *relayWorld) pathOf(pid int) string {
	return filepath.Join(r.sock, fmt.Sprintf("h-%d.sock", pid))
}

// setMode decides what the next workers announce (written aside and
// renamed, so a starting worker never reads half of it).
func (r *relayWorld) setMode(m relayMode) {
	r.t.Helper()
	b, _ := json.Marshal(m)
	tmp := r.mode + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, r.mode); err != nil {
		r.t.Fatal(err)
	}
}

// env returns the HANDOFF_ environment the worker pid started with. The
// worker writes it before READY=1, so it exists once the worker is ready.
func (r *relayWorld) env(pid int) map[string]string {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, fmt.Sprintf("env-%d.json", pid)))
	if err != nil {
		r.t.Fatalf("worker %d's environment: %v", pid, err)
	}
	var env map[string]string
	if err := json.Unmarshal(b, &env); err != nil {
		r.t.Fatal(err)
	}
	return env
}

// introduction is what a worker was told about its predecessor.
type introduction struct {
	path, pid, state string
}

func (r *relayWorld) introduced(pid int) introduction {
	env := r.env(pid)
	return introduction{env[proto.EnvHandover], env[proto.EnvHandoverPID], env[proto.EnvState]}
}

// expectIntroduced checks that worker pid was introduced to worker from
// (its announced socket and pid; state as announced), or to nobody when
// from is 0.
func (r *relayWorld) expectIntroduced(what string, pid, from int, state bool) {
	r.t.Helper()
	want := introduction{}
	if from != 0 {
		want = introduction{r.pathOf(from), itoa(from), ""}
		if state {
			want.state = "1"
		}
	}
	if got := r.introduced(pid); got != want {
		r.t.Fatalf("%s: worker %d was told %+v, want %+v (environment %v)", what, pid, got, want, r.env(pid))
	}
}

// upgrade runs `handoff upgrade`, which must succeed, and returns the new
// generation's ready workers.
func (r *relayWorld) upgrade(what string) []int {
	r.t.Helper()
	out, code := r.s.upgrade(r.t)
	if code != 0 || !strings.Contains(out, "done") {
		r.t.Fatalf("%s: upgrade: exit %d:\n%s", what, code, out)
	}
	return r.serving(what)
}

// serving returns the ready workers of the newest serving generation.
func (r *relayWorld) serving(what string) []int {
	r.t.Helper()
	st, err := r.s.status()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, g := range st.Generations { // newest first
		if g.State == "serving" {
			var pids []int
			for _, w := range g.Workers {
				if w.State == "ready" {
					pids = append(pids, w.PID)
				}
			}
			return pids
		}
	}
	r.t.Fatalf("%s: no serving generation in %+v", what, st)
	return nil
}

func (r *relayWorld) only(what string, pids []int) int {
	r.t.Helper()
	if len(pids) != 1 {
		r.t.Fatalf("%s: want one serving worker, have %v", what, pids)
	}
	return pids[0]
}

// waitWarning waits until the supervisor's log holds a warning about
// worker pid containing reason. The log reaches the test through a pipe
// copied by os/exec, so it can lag the status a little.
func (r *relayWorld) waitWarning(pid int, reason string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(r.s.stderr.String(), "\n") {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "handover socket that cannot be relayed") &&
				strings.Contains(line, " pid="+itoa(pid)+" ") && strings.Contains(line, reason) {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no warning about worker %d (%q) within 10s", pid, reason)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// One worker through five upgrades and a crash: each new worker is told
// the path and pid its predecessor announced, and HANDOFF_STATE only when
// the predecessor announced state; bad paths are warned about and not
// relayed; the first generation and a worker restarted after a crash are
// told nothing, and nothing leaks from the supervisor's own environment.
func TestHandoverRelay_EachWorkerIsIntroducedToItsPredecessor(t *testing.T) {
	// Whatever started the supervisor must not introduce anybody.
	t.Setenv(proto.EnvHandover, "/tmp/from-the-supervisors-environment.sock")
	t.Setenv(proto.EnvHandoverPID, "1")
	t.Setenv(proto.EnvState, "1")
	r := newRelayWorld(t, 1)

	w1 := r.only("generation 1", r.serving("generation 1"))
	r.expectIntroduced("generation 1", w1, 0, false)
	if g := r.env(w1)[proto.EnvGeneration]; g != "1" {
		t.Fatalf("generation 1's worker has %s=%q", proto.EnvGeneration, g)
	}

	r.setMode(relayMode{Handover: r.goodPath(), State: true})
	w2 := r.only("upgrade 1", r.upgrade("upgrade 1"))
	r.expectIntroduced("upgrade 1 (predecessor announced no state)", w2, w1, false)

	r.setMode(relayMode{Handover: "relative/h-{pid}.sock", State: true})
	w3 := r.only("upgrade 2", r.upgrade("upgrade 2"))
	r.expectIntroduced("upgrade 2 (predecessor announced state)", w3, w2, true)
	r.waitWarning(w3, "not absolute")

	r.setMode(relayMode{Handover: filepath.Join(r.sock, strings.Repeat("x", 120)+"-{pid}.sock"), State: true})
	w4 := r.only("upgrade 3", r.upgrade("upgrade 3"))
	r.expectIntroduced("upgrade 3 (predecessor announced a relative path)", w4, 0, false)
	r.waitWarning(w4, "bytes long")

	r.setMode(relayMode{Handover: r.goodPath(), State: true})
	w5 := r.only("upgrade 4", r.upgrade("upgrade 4"))
	r.expectIntroduced("upgrade 4 (predecessor announced a path too long)", w5, 0, false)
	w6 := r.only("upgrade 5", r.upgrade("upgrade 5"))
	r.expectIntroduced("upgrade 5", w6, w5, true)

	// A crash: the restarted worker has no live predecessor.
	if err := syscall.Kill(w6, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := r.s.waitState(func(st control.Status) bool {
		pids := servingPIDs(st)
		return len(pids) == 1 && pids[0] != w6
	}, 15*time.Second, "a worker restarted after the crash")
	w7 := servingPIDs(st)[0]
	r.expectIntroduced("restart after a crash", w7, 0, false)
	if w := st.Generations[0].Workers[0]; w.Restarts != 1 {
		t.Fatalf("worker %d: restarts %d, want 1 (status %+v)", w7, w.Restarts, st)
	}
	r.s.stop(t)
	r.s.assertNoneLeft(t)
}

// With --workers 2, the worker started for each slot is introduced to the
// worker that held that slot, with either strategy: the two new workers
// are told two different predecessors, one each.
func TestHandoverRelay_TwoWorkersEachGetTheirSlotsPredecessor(t *testing.T) {
	for _, strategy := range []string{"all", "rolling"} {
		t.Run(strategy, func(t *testing.T) {
			r := newRelayWorld(t, 2, "--strategy", strategy)
			old := r.serving("generation 1")
			for i := 1; i <= 2; i++ {
				what := fmt.Sprintf("upgrade %d", i)
				now := r.upgrade(what)
				if len(old) != 2 || len(now) != 2 {
					t.Fatalf("%s: workers %v then %v, want two each", what, old, now)
				}
				var got, want []string
				for _, pid := range now {
					in := r.introduced(pid)
					got = append(got, in.path+" "+in.pid)
				}
				for _, pid := range old {
					want = append(want, r.pathOf(pid)+" "+itoa(pid))
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: workers %v were told %q, want each of %v's own %q", what, now, got, old, want)
				}
				old = now
			}
			r.s.stop(t)
			r.s.assertNoneLeft(t)
		})
	}
}

// A new worker that dies in probation makes the supervisor start the
// previous program again, into the slot the dead worker held: that
// rollback worker must not be given the dead worker's socket. It is
// introduced to the old worker if that one still drains (it holds the
// state, see TestRun_RollbackWorkerReceivesTheStateFromTheDrainingOldWorker),
// else to nobody.
func TestHandoverRelay_RollbackWorkerIsNotIntroducedToTheDead(t *testing.T) {
	r := newRelayWorld(t, 1, "--probation", "10s")
	w1 := r.only("generation 1", r.serving("generation 1"))
	// Generation 2 announces a valid path, then dies once it serves alone.
	r.setMode(relayMode{Handover: r.goodPath(), State: true, DieWhenIntroduced: true})
	out, code := r.s.upgrade(t)
	if code == 0 || !strings.Contains(out, "rolled back") {
		t.Fatalf("upgrade: exit %d, want a rollback:\n%s", code, out)
	}
	w3 := r.only("rollback", r.serving("rollback"))
	st, err := r.s.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Generations[0].Number != 3 || w3 == w1 {
		t.Fatalf("want generation 3 serving after the rollback, status %+v", st)
	}
	if got := r.introduced(w3); got.pid != "" && got.pid != itoa(w1) {
		t.Fatalf("rollback worker %d was introduced to %+v, want the old worker %d or nobody", w3, got, w1)
	}
	r.s.stop(t)
	r.s.assertNoneLeft(t)
}
