//go:build unix

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Workers run the exact bytes of their generation through a descriptor the
// supervisor holds, yet ps and top show the program's name, not the
// descriptor's number.
func TestWorkerComm_IsTheProgramsName(t *testing.T) {
	needProc(t)
	s := startHello(t)
	for i := 0; i < 2; i++ {
		pid := onlyServingPID(t, s)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			t.Fatal(err)
		}
		if comm := strings.TrimSpace(string(b)); comm != "hello" {
			t.Errorf("worker %d (generation %d) is named %q, want \"hello\"", pid, i+1, comm)
		}
		if out, code := s.upgrade(t); code != 0 {
			t.Fatalf("upgrade: exit %d:\n%s", code, out)
		}
	}
	s.stopClean(t)
}
