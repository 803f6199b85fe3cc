//go:build unix

package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

func TestControlSocket_Mode0600_OtherUIDRefused(t *testing.T) {
	s := startHello(t)
	fi, err := os.Stat(s.ctl)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("control socket mode %v, want socket 0600", fi.Mode())
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	// Open every door the mode bits close, so that only the peer
	// credential check stands between uid 65534 and the supervisor.
	os.Chmod(filepath.Dir(s.ctl), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(s.ctl)), 0o755) // t.TempDir's parent is 0700 too
	os.Chmod(s.ctl, 0o666)
	out, code := handoffCmdAs(t, testserver.AsNobody(), "upgrade", "--control", s.ctl)
	if code == 0 || !strings.Contains(out, "403") || !strings.Contains(out, "uid 65534 may not control") {
		t.Fatalf("uid 65534: exit %d, output:\n%s", code, out)
	}
	st, err := s.status()
	if err != nil || st.LastUpgrade != nil {
		t.Fatalf("an upgrade happened after all: %+v %v", st.LastUpgrade, err)
	}
	s.stop(t)
}

func TestCurlStyleHTTPOnControlSocket(t *testing.T) {
	s := startHello(t)
	c, err := net.Dial("unix", s.ctl)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("POST /upgrade HTTP/1.1\r\nHost: handoff\r\nContent-Length: 0\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get(control.HeaderVersion) != control.Version || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("headers: %v", resp.Header)
	}
	sc := bufio.NewScanner(resp.Body)
	var last string
	for sc.Scan() {
		last = sc.Text()
	}
	if !strings.Contains(last, `"stage":"done"`) || !strings.Contains(last, `"final":true`) {
		t.Fatalf("last event: %s", last)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.client().Status(ctx); err != nil {
		t.Fatal(err)
	}
	s.stop(t)
}
