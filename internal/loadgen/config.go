package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Mode says how clients use their connections.
type Mode string

const (
	// ModeKeepAlive: each client keeps one connection and reuses it, which
	// exposes the race between a server closing an idle connection and the
	// client writing its next request.
	ModeKeepAlive Mode = "keepalive"
	// ModeClose: a new connection per request (sent with Connection: close),
	// which exposes refused and reset connects while listeners change hands.
	ModeClose Mode = "close"
	// ModeMixed: half the clients use ModeKeepAlive, half ModeClose.
	ModeMixed Mode = "mixed"
	// ModeHold: no busy clients; HoldConns idle keep-alive connections that
	// each send one request every HoldInterval, to check that an upgrade
	// neither cuts long-lived connections nor fails their requests.
	ModeHold Mode = "hold"
)

// ParseMode accepts the names used on the command line ("keepalive",
// "close", "mixed", "hold"); the empty string means ModeKeepAlive.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return ModeKeepAlive, nil
	case ModeKeepAlive, ModeClose, ModeMixed, ModeHold:
		return m, nil
	case "keep-alive":
		return ModeKeepAlive, nil
	}
	return "", fmt.Errorf("loadgen: unknown mode %q (want keepalive, close, mixed or hold)", s)
}

// Defaults that New applies to zero fields; exported so that command-line
// help can show them.
const (
	DefaultClients        = 16
	DefaultHoldConns      = 100 // in ModeHold only; other modes hold none unless asked
	DefaultHoldInterval   = time.Second
	DefaultTimeout        = 10 * time.Second
	DefaultMethod         = "POST"
	DefaultBody           = "handoff-loadgen\n"
	DefaultSettle         = time.Second
	DefaultReconnectDelay = 10 * time.Millisecond
	DefaultWarmup         = time.Second
	DefaultEvery          = 2 * time.Second
	DefaultProgressEvery  = time.Second
)

// Config describes the load. The zero value of every field but URL means
// "use the default".
type Config struct {
	// URL is the target, http://host:port[/path]. Only plain http is
	// supported: the point is to observe the server's sockets, not TLS.
	URL string
	// Path overrides the path (and query) of URL when set, e.g. "/hello".
	Path string
	// Method defaults to POST: real clients never retry a POST on their own,
	// so a POST makes every close/write race visible.
	Method string
	// Body is sent with every request; nil means DefaultBody. Use NoBody to
	// send none.
	Body []byte
	// NoBody sends requests without a body (and without Content-Length for
	// GET and HEAD).
	NoBody bool

	// Mode selects connection behaviour; empty means ModeKeepAlive.
	Mode Mode
	// Clients is the number of concurrent busy clients (each runs one
	// request at a time, back to back). Ignored in ModeHold.
	Clients int

	// HoldConns is the number of idle keep-alive connections held open, each
	// sending one request per HoldInterval. Defaults to DefaultHoldConns in
	// ModeHold and 0 otherwise (set it to hold connections alongside busy
	// clients).
	HoldConns int
	// HoldInterval is the gap between two requests on a held connection.
	HoldInterval time.Duration

	// SlowPath (e.g. "/slow?ms=200") receives SlowFraction (0..1) of the
	// requests, so that some are in flight whenever an upgrade starts.
	SlowPath     string
	SlowFraction float64

	// Timeout bounds one request, connect included; a request that takes
	// longer counts as OutcomeTimeout.
	Timeout time.Duration
	// ReconnectDelay is how long a client pauses after a failed connect
	// before trying again, so that a server that is down yields a bounded
	// count of refused requests instead of a busy loop. Negative means none.
	ReconnectDelay time.Duration

	// Settle is how long after an upgrade completes requests still count as
	// "around the upgrade" (for latency and per-upgrade failures).
	Settle time.Duration

	// Upgrades, Every, Warmup and Cooldown drive RunWithUpgrades: after
	// Warmup it triggers Upgrades upgrades, the i-th at Warmup+i*Every (or
	// as soon as the previous one returns, if that is later), then keeps
	// the load on for Cooldown (default Settle+Warmup) before stopping.
	Upgrades int
	Every    time.Duration
	Warmup   time.Duration
	Cooldown time.Duration

	// Progress, when set, is called every ProgressEvery from a goroutine of
	// its own with a snapshot whose RPS covers the last interval. It should
	// return quickly: Stop waits for a call in progress.
	Progress      func(Snapshot)
	ProgressEvery time.Duration

	// OnUpgrade, when set, is called by RunWithUpgrades right after each
	// upgrade function returns (and the upgrade is marked done), from
	// RunWithUpgrades' own goroutine, so that a caller can print one line
	// per upgrade with live totals. The next upgrade waits for it to return.
	OnUpgrade func(UpgradeDone)
}

// target is the validated, derived form of a Config.
type target struct {
	addr     string // host:port to dial
	host     string // Host header
	path     string
	slowPath string
	method   string
	body     []byte
	sendCL   bool
}

// withDefaults returns a copy of c with defaults filled in and the target
// derived, or an error describing the first bad field.
func (c Config) withDefaults() (Config, target, error) {
	var t target
	if strings.TrimSpace(c.URL) == "" {
		return c, t, errors.New("loadgen: URL is required")
	}
	raw := c.URL
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return c, t, fmt.Errorf("loadgen: bad URL: %w", err)
	}
	if u.Scheme != "http" {
		return c, t, fmt.Errorf("loadgen: URL scheme %q not supported (only http)", u.Scheme)
	}
	if u.Hostname() == "" {
		return c, t, fmt.Errorf("loadgen: URL %q has no host", c.URL)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	t.host = u.Host
	t.path = u.RequestURI()
	if c.Path != "" {
		t.path = c.Path
	}
	if !strings.HasPrefix(t.path, "/") {
		t.path = "/" + t.path
	}
	if c.SlowPath != "" {
		t.slowPath = c.SlowPath
		if !strings.HasPrefix(t.slowPath, "/") {
			t.slowPath = "/" + t.slowPath
		}
	}
	for _, p := range []string{t.path, t.slowPath, t.host} {
		if strings.ContainsAny(p, " \r\n\t") {
			return c, t, fmt.Errorf("loadgen: %q contains whitespace", p)
		}
	}

	if c.Method == "" {
		c.Method = DefaultMethod
	}
	c.Method = strings.ToUpper(c.Method)
	for _, r := range c.Method {
		if r < 'A' || r > 'Z' {
			return c, t, fmt.Errorf("loadgen: bad method %q", c.Method)
		}
	}
	t.method = c.Method
	switch {
	case c.NoBody:
		t.body = nil
	case c.Body == nil:
		t.body = []byte(DefaultBody)
	default:
		t.body = c.Body
	}
	// A GET or HEAD without a body conventionally carries no
	// Content-Length; everything else states its length so that the
	// server never has to guess where the request ends.
	t.sendCL = len(t.body) > 0 || (t.method != "GET" && t.method != "HEAD")

	if c.Mode, err = ParseMode(string(c.Mode)); err != nil {
		return c, t, err
	}
	if c.Clients < 0 || c.HoldConns < 0 || c.Upgrades < 0 {
		return c, t, errors.New("loadgen: Clients, HoldConns and Upgrades must not be negative")
	}
	if c.Mode == ModeHold {
		c.Clients = 0
		if c.HoldConns == 0 {
			c.HoldConns = DefaultHoldConns
		}
	} else if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	const maxConns = 1 << 22 // ids reserve 6 hex digits for the client
	if c.Clients+c.HoldConns > maxConns {
		return c, t, fmt.Errorf("loadgen: at most %d clients and held connections", maxConns)
	}
	if !(c.SlowFraction >= 0 && c.SlowFraction <= 1) { // also rejects NaN
		return c, t, fmt.Errorf("loadgen: SlowFraction %v not in [0,1]", c.SlowFraction)
	}
	if c.SlowFraction > 0 && t.slowPath == "" {
		return c, t, errors.New("loadgen: SlowFraction set without SlowPath")
	}
	for _, d := range []*time.Duration{&c.HoldInterval, &c.Timeout, &c.Settle, &c.Every, &c.Warmup, &c.Cooldown, &c.ProgressEvery} {
		if *d < 0 {
			return c, t, errors.New("loadgen: durations must not be negative")
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HoldInterval, DefaultHoldInterval)
	def(&c.Timeout, DefaultTimeout)
	def(&c.Settle, DefaultSettle)
	def(&c.Every, DefaultEvery)
	def(&c.Warmup, DefaultWarmup)
	def(&c.Cooldown, c.Settle+c.Warmup)
	def(&c.ProgressEvery, DefaultProgressEvery)
	if c.ReconnectDelay == 0 {
		c.ReconnectDelay = DefaultReconnectDelay
	} else if c.ReconnectDelay < 0 {
		c.ReconnectDelay = 0
	}
	return c, t, nil
}
