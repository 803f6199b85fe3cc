//go:build linux

package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Item 4 under a real systemd: `handoff upgrade --self` of a Type=notify
// service under non-retrying load. systemd sees nothing (MainPID
// unchanged, the unit stays active), the new binary answers on the control
// socket, no connection is refused and no request fails; a worker upgrade
// then runs as ever.
func TestSystemd_UpgradeSelf_UnderLoad_MainPIDUnchanged(t *testing.T) {
	v2 := handoffV2(t)
	s := bootWithApp(t, false, "--probation 0")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := s.StartSteadyLoad(t, ctx, unitAddr, 50)
	before := s.MainPID("app.service")
	ctl := s.Dir + "/ctl.sock" // bound back at its own path: reachable from here
	rig := &selfRig{v2: v2, exe: s.Dir + "/handoff", sup: &sup{ctl: ctl}}
	start := time.Now()
	out, code := rig.upgradeSelf(t)
	took := time.Since(start).Round(time.Millisecond)
	if code != 0 || !strings.Contains(out, selfV2) {
		t.Fatalf("upgrade --self: exit %d:\n%s", code, out)
	}
	if err := l.WaitOK(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if after, state := s.MainPID("app.service"), s.Show("app.service", "ActiveState"); after != before || state != "active" {
		t.Fatalf("after upgrade --self: MainPID %d (was %d), %s", after, before, state)
	}
	if st := statusAt(t, ctx, ctl); st.PID != before || st.Supervisor == nil || st.Supervisor.Version != selfV2 || st.Supervisor.ReExecs != 1 {
		t.Fatalf("status after upgrade --self: pid %d (MainPID %d), %+v", st.PID, before, st.Supervisor)
	}
	if out, code := handoffCmd(t, "upgrade", "--control", ctl); code != 0 {
		t.Fatalf("worker upgrade after upgrade --self: exit %d:\n%s", code, out)
	}
	if err := l.WaitOK(ctx, 50); err != nil {
		t.Fatal(err)
	}
	l.Check(t, "handoff upgrade --self, MainPID "+itoa(before)+" kept, took "+took.String())
}
