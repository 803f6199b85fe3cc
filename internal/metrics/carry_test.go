package metrics

import (
	"reflect"
	"testing"
	"time"
)

// What a supervisor counted goes on in its new binary: Counts of a
// restored Supervisor equal those of the one it was read from, and Counts
// never calls the snapshot (the supervisor reads them on the loop the
// snapshot would wait for).
func TestCounts_RestoredIntoAFreshSupervisor(t *testing.T) {
	never := func() (Snapshot, bool) { t.Fatal("Counts called the snapshot"); return Snapshot{}, false }
	m := NewSupervisor(never)
	m.Upgrade("upgrade", ResultDone, "", Phases{Total: time.Second}, time.Unix(1700000000, 0))
	m.Upgrade("reload", ResultRefused, "checksum", Phases{}, time.Unix(1700000001, 0))
	m.Coalesced("upgrade")
	m.Restart()
	m.Restart()
	m.DrainTimeout()
	before := m.Counts()
	if before.Upgrades["upgrade/done"] != 1 || before.Refusals["checksum"] != 1 || before.Restarts != 2 || before.LastTime != 1700000001 {
		t.Fatalf("counts: %+v", before)
	}
	fresh := NewSupervisor(never)
	fresh.Restore(before)
	if after := fresh.Counts(); !reflect.DeepEqual(after, before) {
		t.Fatalf("restored counts %+v, want %+v", after, before)
	}
}
