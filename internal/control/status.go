package control

import "time"

// Status is the answer to GET /status: everything the supervisor knows.
type Status struct {
	PID       int       `json:"pid"`
	State     string    `json:"state"` // "starting", "serving", "upgrading", "idle" (after WINCH), "stopping"
	Started   time.Time `json:"started"`
	Program   string    `json:"program"`
	Args      []string  `json:"args"`
	Listeners []Socket  `json:"listeners"`
	// Generations lists every generation with a live process, newest first.
	Generations []Generation `json:"generations"`
	LastUpgrade *Upgrade     `json:"last_upgrade,omitempty"`
	// Supervisor describes the supervisor's own binary (self.go).
	Supervisor *SupervisorInfo `json:"supervisor,omitempty"`
}

// Socket is one listener the supervisor holds.
type Socket struct {
	Name    string `json:"name"`
	Address string `json:"address"` // as the kernel reports it, e.g. tcp://127.0.0.1:8080
}

// Generation is one version of the program.
type Generation struct {
	Number  int       `json:"number"`
	State   string    `json:"state"` // "starting", "probation", "serving", "draining", "stopped"
	Path    string    `json:"path"`
	Started time.Time `json:"started"`
	Workers []Worker  `json:"workers"`
	// SHA256 is the program's digest as the pre-flight checks read it
	// (hex; empty if it was never read). Age is the time since Started.
	// RollbackOf is the generation whose program this one runs again.
	SHA256     string `json:"sha256,omitempty"`
	Age        string `json:"age,omitempty"`
	RollbackOf int    `json:"rollback_of,omitempty"`
}

// Worker is one process of a generation.
type Worker struct {
	PID      int       `json:"pid"`
	MainPID  int       `json:"main_pid,omitempty"` // from MAINPID=, when it differs from PID
	State    string    `json:"state"`              // "starting", "ready", "draining", "exited"
	Started  time.Time `json:"started"`
	Uptime   string    `json:"uptime"`
	Restarts int       `json:"restarts,omitempty"`
	Status   string    `json:"status,omitempty"` // the worker's last STATUS= notification
	Errno    int       `json:"errno,omitempty"`  // the worker's last ERRNO= notification
	// Handover is the handover socket the worker announced in READY=1
	// (X_HANDOFF_HANDOVER), empty if none: its successor can take its
	// connections and, with HandoverState, its state. The supervisor does
	// not see what moves over it; a worker reports its counts itself
	// (STATUS=, or its own metrics).
	Handover      string `json:"handover,omitempty"`
	HandoverState bool   `json:"handover_state,omitempty"`
}

// Upgrade is the outcome of the last finished upgrade.
type Upgrade struct {
	Generation int       `json:"generation"`
	Result     Stage     `json:"result"` // StageDone, StageFailed or StageRolledBack
	Message    string    `json:"message,omitempty"`
	Started    time.Time `json:"started"`
	Took       string    `json:"took"`
}
