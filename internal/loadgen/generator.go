package loadgen

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Generator runs the load described by a Config. Create it with New, start
// it with Start, mark upgrades with Mark and MarkDone (or MarkResult), and
// end it with Stop, which returns the Report. All methods are safe for
// concurrent use.
type Generator struct {
	cfg    Config
	target target
	runID  uint32

	busy   []*client // back-to-back clients, one shard each
	hold   []*client // held idle connections, sharing holdShards
	shards []*shard  // busy shards first, then hold shards

	t0 time.Time // set by Start; offsets in the report are from here

	// upState is marks<<1 | active: read by every request to place it in a
	// window without taking a lock.
	upState  atomic.Int64
	lastDone atomic.Int64 // ns since t0 when the last upgrade completed

	mu       sync.Mutex
	marks    []upgradeMark
	started  bool // Start ran
	closed   bool // Stop ran (or is running): no Start any more
	report   *Report
	stopOnce sync.Once

	stopping  atomic.Bool
	aborted   atomic.Bool
	stopCh    chan struct{}
	wg        sync.WaitGroup
	stopAfter func() bool
	stopAt    int64 // ns since t0 when Stop (or an abort) began

	// loops are the event loops driving the busy clients, if that engine
	// runs (engine.go); halt and abort wake them.
	loops []waker
	// engine chooses how busy clients are driven; loopCount, if positive,
	// overrides how many event loops do it (tests and benchmarks only).
	engine    engineKind
	loopCount int

	// beforeReuse, if set (tests only), runs before a client checks whether
	// its idle keep-alive connection is still open; beforeReuseFD is the
	// same for the event loop, which has a descriptor, not a net.Conn.
	beforeReuse   func(net.Conn)
	beforeReuseFD func(fd int)
	// afterRequest, if set (tests only), sees every result a busy client
	// records, from that client's goroutine or event loop; returning false
	// ends that client.
	afterRequest func(cl *client, r *result) bool
}

// upgradeMark is one upgrade as the caller marked it.
type upgradeMark struct {
	label       string
	start, done int64 // ns since t0; done < 0 while running
	result      UpgradeResult
	err         error
}

// UpgradeResult is what an upgrade function may report about one upgrade;
// every field is optional and is copied into the report.
type UpgradeResult struct {
	OldPID int    `json:"old_pid,omitempty"`
	NewPID int    `json:"new_pid,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Snapshot is a cheap live view of a running Generator, for progress lines.
type Snapshot struct {
	Elapsed   time.Duration
	Requests  int64
	Failures  int64
	Cuts      int64   // held connections cut by the server
	RPS       float64 // since start; over the last interval in Progress callbacks
	Upgrades  int     // upgrades marked so far
	Upgrading bool    // an upgrade is marked and not yet done
}

// New validates cfg and prepares a Generator; nothing is connected until
// Start.
func New(cfg Config) (*Generator, error) {
	cfg, t, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, target: t, runID: rand.Uint32(), stopCh: make(chan struct{})}
	for i := range cfg.Clients {
		closeMode := cfg.Mode == ModeClose || (cfg.Mode == ModeMixed && i%2 == 1)
		g.busy = append(g.busy, newClient(g, i, closeMode))
		g.shards = append(g.shards, newShard())
	}
	if cfg.HoldConns > 0 {
		n := min(cfg.HoldConns, 4*runtime.GOMAXPROCS(0))
		for range n {
			g.shards = append(g.shards, newShard())
		}
		for i := range cfg.HoldConns {
			g.hold = append(g.hold, newClient(g, cfg.Clients+i, false))
		}
	}
	return g, nil
}

// Config returns the configuration in effect, defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Start launches the clients. Cancelling ctx aborts the run: connections are
// closed at once and requests cut short by that are not counted (Stop still
// returns the report of what was measured). Start may be called once.
func (g *Generator) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started || g.closed {
		return errors.New("loadgen: Generator already started or stopped")
	}
	g.started = true
	g.t0 = time.Now()
	if !g.startEventLoops() {
		for i, cl := range g.busy {
			g.wg.Add(1)
			go g.runBusy(ctx, cl, g.shards[i])
		}
	}
	nb := len(g.busy)
	for i, cl := range g.hold {
		g.wg.Add(1)
		go g.runHold(ctx, cl, g.shards[nb+i%(len(g.shards)-nb)])
	}
	if g.cfg.Progress != nil {
		g.wg.Add(1)
		go g.runProgress(ctx)
	}
	g.stopAfter = context.AfterFunc(ctx, g.abort)
	return nil
}

// since returns nanoseconds since Start.
func (g *Generator) since() int64 { return int64(time.Since(g.t0)) }

// window places a request starting now: 0 for steady state, i+1 for "around
// upgrade i".
func (g *Generator) window() int {
	s := g.upState.Load()
	n := int(s >> 1)
	if n == 0 {
		return 0
	}
	if s&1 == 1 || g.since() < g.lastDone.Load()+int64(g.cfg.Settle) {
		return n
	}
	return 0
}

// epoch is the number of upgrades triggered so far.
func (g *Generator) epoch() int { return int(g.upState.Load() >> 1) }

// Mark records that an upgrade (named label) is being triggered now. A Mark
// while the previous upgrade is still open completes that one first.
func (g *Generator) Mark(label string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.started {
		return
	}
	now := g.since()
	g.finishLocked(now, UpgradeResult{}, nil)
	g.marks = append(g.marks, upgradeMark{label: label, start: now, done: -1})
	g.upState.Store(int64(len(g.marks))<<1 | 1)
}

// MarkDone records that the upgrade marked last has completed.
func (g *Generator) MarkDone() { g.MarkResult(UpgradeResult{}, nil) }

// MarkResult records that the upgrade marked last has completed, with what
// the upgrade reported and its error (nil if it succeeded).
func (g *Generator) MarkResult(res UpgradeResult, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.finishLocked(g.since(), res, err)
}

func (g *Generator) finishLocked(now int64, res UpgradeResult, err error) {
	n := len(g.marks)
	if n == 0 || g.marks[n-1].done >= 0 {
		return
	}
	m := &g.marks[n-1]
	m.done, m.result, m.err = now, res, err
	g.lastDone.Store(now)
	g.upState.Store(int64(n) << 1)
}

// Snapshot returns live totals; it takes no lock that a client might hold.
func (g *Generator) Snapshot() Snapshot {
	var s Snapshot
	for _, sh := range g.shards {
		s.Requests += sh.requests.Load()
		s.Failures += sh.failures.Load()
		s.Cuts += sh.cuts.Load()
	}
	st := g.upState.Load()
	s.Upgrades, s.Upgrading = int(st>>1), st&1 == 1
	g.mu.Lock()
	started := g.started
	g.mu.Unlock()
	if started {
		s.Elapsed = time.Since(g.t0)
		if sec := s.Elapsed.Seconds(); sec > 0 {
			s.RPS = float64(s.Requests) / sec
		}
	}
	return s
}

// Stop stops issuing requests, lets those in flight finish (each is bounded
// by Config.Timeout), and returns the report. Later calls return the same
// report. Calling Stop without Start returns an empty report.
func (g *Generator) Stop() *Report {
	g.mu.Lock()
	if g.report != nil {
		defer g.mu.Unlock()
		return g.report
	}
	started := g.started
	g.closed = true
	if started {
		g.finishLocked(g.since(), UpgradeResult{}, errors.New("still running when the load stopped"))
	}
	g.mu.Unlock()

	g.halt()
	g.wg.Wait()
	if g.stopAfter != nil {
		g.stopAfter()
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if g.report == nil {
		g.report = g.buildReport(started)
	}
	return g.report
}

// halt makes every client finish its current request and exit: held
// connections waiting for their next send time are woken at once.
func (g *Generator) halt() {
	g.stopOnce.Do(func() {
		if !g.t0.IsZero() {
			g.stopAt = g.since()
		}
		g.stopping.Store(true)
		close(g.stopCh)
	})
	for _, l := range g.loops {
		l.wake()
	}
	for _, cl := range g.hold {
		cl.mu.Lock()
		if cl.waiting && cl.c != nil {
			cl.c.nc.SetReadDeadline(time.Now())
		}
		cl.mu.Unlock()
	}
}

// abort is halt without waiting for requests in flight: their connections
// are closed.
func (g *Generator) abort() {
	g.aborted.Store(true)
	g.halt()
	for _, cl := range g.busy {
		cl.abort()
	}
	for _, cl := range g.hold {
		cl.abort()
	}
}

// pause waits d, or less if the run is stopping; it reports whether to go on.
func (g *Generator) pause(d time.Duration) bool {
	if d <= 0 {
		return !g.stopping.Load()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return !g.stopping.Load()
	case <-g.stopCh:
		return false
	}
}

// finish records r unless the run was aborted and r is a casualty of that.
func (g *Generator) finish(sh *shard, r *result, w int) bool {
	return g.finishAt(sh, r, w, g.since())
}

// finishAt is finish for a request that ended at end (ns since Start),
// for a caller that has read the clock already.
func (g *Generator) finishAt(sh *shard, r *result, w int, end int64) bool {
	if g.aborted.Load() && r.outcome.Failed() {
		return false
	}
	sh.record(r, w, g.epoch(), end)
	return true
}

func (g *Generator) runBusy(ctx context.Context, cl *client, sh *shard) {
	defer g.wg.Done()
	defer cl.drop()
	for !g.stopping.Load() {
		w := g.window()
		r := cl.do(ctx)
		if !g.finish(sh, &r, w) {
			return
		}
		if h := g.afterRequest; h != nil && !h(cl, &r) {
			return
		}
		if r.dialFailed && !g.pause(g.cfg.ReconnectDelay) {
			return
		}
	}
}

func (g *Generator) runProgress(ctx context.Context) {
	defer g.wg.Done()
	t := time.NewTicker(g.cfg.ProgressEvery)
	defer t.Stop()
	var prev Snapshot
	for {
		select {
		case <-g.stopCh:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := g.Snapshot()
		if dt := (s.Elapsed - prev.Elapsed).Seconds(); dt > 0 {
			s.RPS = float64(s.Requests-prev.Requests) / dt
		}
		prev = s
		g.cfg.Progress(s)
	}
}
