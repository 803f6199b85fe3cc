//go:build unix

package supervisor

import "syscall"

// selfSignal asks the supervisor to re-execute its own binary in place
// (`handoff upgrade --self`). VTALRM because every other signal is taken
// (TERM INT QUIT HUP USR1 USR2 WINCH keep nginx's meanings) or sent by
// someone else on their own: the kernel raises VTALRM only for a process
// that armed ITIMER_VIRTUAL, which neither Go nor handoff does; TTIN and
// TTOU come from terminals, PWR from container managers, XCPU and XFSZ from
// resource limits, PROF and URG are the Go runtime's.
const selfSignal = syscall.SIGVTALRM
