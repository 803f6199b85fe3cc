//go:build linux

package systemdtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Load is non-retrying HTTP/1.1 load on an address inside a booted system:
// every request a new connection (Connection: close), so a refused connect
// is seen, never hidden by a retry or a pooled connection.
type Load struct {
	OK, Refused, Failed atomic.Int64

	mu     sync.Mutex
	errs   []string
	pids   map[string]int64 // X-Pid of each answer, counted
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartLoad starts clients, each sending at most one request every pace
// to http://addr+path, until Stop. Each request has its own timeout.
func (s *System) StartLoad(addr, path string, clients int, pace, timeout time.Duration) *Load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{cancel: cancel, pids: map[string]int64{}}
	for i := 0; i < clients; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(pace)
			defer tick.Stop()
			for ctx.Err() == nil {
				l.one(ctx, s, addr, path, timeout)
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		}()
	}
	return l
}

func (l *Load) one(ctx context.Context, s *System, addr, path string, timeout time.Duration) {
	rctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	status, pid, err := s.Request(rctx, addr, path)
	switch {
	case err != nil && errors.Is(err, errDial) && ctx.Err() != nil:
		// stopped while dialling: not the server's fault
	case err != nil && errors.Is(err, syscall.ECONNREFUSED):
		l.Refused.Add(1)
		l.note("%v", err)
	case err != nil:
		l.Failed.Add(1)
		l.note("%v", err)
	case status != http.StatusOK:
		l.Failed.Add(1)
		l.note("status %d from pid %s", status, pid)
	default:
		l.OK.Add(1)
		l.mu.Lock()
		l.pids[pid]++
		l.mu.Unlock()
	}
}

var errDial = errors.New("connect")

// Request sends one POST to http://addr+path inside the booted system on a
// new connection and returns the status and the X-Pid that answered. A
// connect error wraps errDial (and the errno).
func (s *System) Request(ctx context.Context, addr, path string) (status int, pid string, err error) {
	c, err := s.Dial(ctx, "tcp", addr)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %w", errDial, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	_, err = io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello")
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	}
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err != nil {
		return 0, "", fmt.Errorf("request %s: %w", path, err)
	}
	return resp.StatusCode, resp.Header.Get("X-Pid"), nil
}

func (l *Load) note(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
}

// WaitOK waits until n more requests have been answered 200 (bounded by
// ctx): an event to wait on, instead of a sleep.
func (l *Load) WaitOK(ctx context.Context, n int64) error {
	target := l.OK.Load() + n
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for l.OK.Load() < target {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d answers: %w (%s)", n, ctx.Err(), l)
		case <-tick.C:
		}
	}
	return nil
}

// Stop ends the load and waits for every client.
func (l *Load) Stop() {
	l.cancel()
	l.wg.Wait()
}

// Served is how many answers each pid (X-Pid) gave.
func (l *Load) Served() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int64, len(l.pids))
	for k, v := range l.pids {
		out[k] = v
	}
	return out
}

// String is the tally and the first errors, for failure messages.
func (l *Load) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("ok %d, refused %d, failed %d; by pid %v; first errors:\n  %s",
		l.OK.Load(), l.Refused.Load(), l.Failed.Load(), l.pids, strings.Join(l.errs, "\n  "))
}
