package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
)

// ErrVersion reports a supervisor that speaks another control protocol
// version than this client.
var ErrVersion = errors.New("control protocol version mismatch")

// Client talks to a supervisor's control socket.
type Client struct {
	Path string
	http *http.Client
}

// NewClient returns a client for the control socket at path. It does not
// connect until a request is made.
//
// Before every request it checks that the socket can be trusted, and
// fails with ErrUntrusted (naming the socket) otherwise: the socket's
// directory must be a real directory owned by this user or root and
// writable by its owner only (the default directory, Dir, must be this
// user's and mode 0700), and the process listening on it must run as this
// user or root (SO_PEERCRED, LOCAL_PEERCRED). A root client therefore does
// not drive another user's supervisor.
func NewClient(path string) *Client {
	c := &Client{Path: path}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
		// Requests are rare and some stream for a long time: no pooling.
		DisableKeepAlives: true,
	}
	c.http = &http.Client{Transport: tr}
	return c
}

// dial connects to the socket after checking its directory, and keeps the
// connection only if the server passes checkServer.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	abs, err := filepath.Abs(c.Path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	if err := checkDir(dir, dir == Dir()); err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", abs)
	if err != nil {
		return nil, err
	}
	if err := checkServer(conn); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (c *Client) do(ctx context.Context, method, route string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://handoff"+route, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The url.Error would repeat the made-up URL; the socket is what
		// the reader needs to see.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("control: %s %s: %w", method, c.Path, err)
	}
	if v := resp.Header.Get(HeaderVersion); v != Version {
		resp.Body.Close()
		return nil, fmt.Errorf("control: %s: %w: supervisor speaks %q, this handoff speaks %q", c.Path, ErrVersion, v, Version)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("control: %s %s: %s: %s", method, route, resp.Status, strings.TrimSpace(string(body)))
	}
	return resp, nil
}

// Status fetches the supervisor's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	return call[Status](ctx, c, http.MethodGet, "/status")
}

// Stop asks the supervisor to drain its workers and exit. It returns once
// the request is accepted, not when the supervisor has exited.
func (c *Client) Stop(ctx context.Context) (Event, error) {
	return call[Event](ctx, c, http.MethodPost, "/stop")
}

// call sends method route and decodes the JSON answer into a T.
func call[T any](ctx context.Context, c *Client, method, route string) (T, error) {
	var v T
	resp, err := c.do(ctx, method, route)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, fmt.Errorf("control: %s: %w", strings.TrimPrefix(route, "/"), err)
	}
	return v, nil
}

// Upgrade asks for an upgrade and calls each with every event as it
// arrives. It returns the final event. An error means the outcome is
// unknown (the connection broke, or the stream ended without a final
// event); the supervisor may still be upgrading.
func (c *Client) Upgrade(ctx context.Context, each func(Event)) (Event, error) {
	return c.stream(ctx, "/upgrade", each)
}

// stream posts to route and follows the event stream it answers.
func (c *Client) stream(ctx context.Context, route string, each func(Event)) (Event, error) {
	resp, err := c.do(ctx, http.MethodPost, route)
	if err != nil {
		return Event{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return Event{}, fmt.Errorf("control: upgrade: bad event %q: %w", sc.Text(), err)
		}
		if each != nil {
			each(ev)
		}
		if ev.Final {
			return ev, nil
		}
	}
	if err := sc.Err(); err != nil {
		return Event{}, fmt.Errorf("control: upgrade: %w", err)
	}
	return Event{}, errors.New("control: upgrade: the supervisor closed the stream before the outcome (it may be stopping)")
}
