package sdnotify

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@handoff-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	r, err := Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Path() != name {
		t.Fatalf("Path() = %q, want %q", r.Path(), name)
	}
	if _, err := Listen(name); err == nil {
		t.Fatal("second Listen on the same abstract name succeeded")
	}
	if err := Send(name, []byte("READY=1")); err != nil {
		t.Fatal(err)
	}
	d := receive(t, r)
	if v, _ := d.Msg.Get("READY"); v != "1" || d.PID != os.Getpid() {
		t.Fatalf("datagram = %+v", d)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}
