package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// runClient is the -client mode: call for d, print what happened.
func runClient(addr string, conns, workers int, d time.Duration) int {
	l, err := startLoad(addr, conns, workers, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpc client:", err)
		return 1
	}
	time.Sleep(d)
	r := l.stop()
	fmt.Println(r)
	if r.Failed > 0 {
		return 1
	}
	return 0
}

// load calls the Hello service from workers goroutines on each of conns
// long-lived grpc.ClientConns until stopped. Nothing is retried: the
// connections are made with grpc.WithDisableRetry, and every error a call
// returns counts as a failure. (gRPC still retries an RPC transparently
// when it never reached the server: written to a connection the server had
// already said GOAWAY to, below the GOAWAY's last stream id. Such an RPC
// was not processed, so that retry is safe; retries counts them.)
type load struct {
	conns   []*grpc.ClientConn
	quit    chan struct{}
	wg      sync.WaitGroup
	start   time.Time
	calls   atomic.Int64
	failed  atomic.Int64
	retries atomic.Int64 // transparent retry attempts

	onAnswer func(pid int) // told of every answer, if not nil

	mu   sync.Mutex
	pids map[int]int64 // answers per pid
	errs []string      // the first few failures
}

// report is what a load saw.
type report struct {
	Calls, Failed, Retries int64
	Pids                   map[int]int64
	Errors                 []string
	Took                   time.Duration
}

func (r report) String() string {
	pids := slices.Sorted(maps.Keys(r.Pids))
	s := fmt.Sprintf("%d calls in %v, %d failed, %d transparent retries, %d pids answered %v",
		r.Calls, r.Took.Round(time.Millisecond), r.Failed, r.Retries, len(pids), pids)
	if len(r.Errors) > 0 {
		s += "; failures: " + strings.Join(r.Errors, "; ")
	}
	return s
}

// startLoad starts calling; onAnswer, if not nil, is told the pid of
// every answer as it comes (the tests wait on it for a new generation).
func startLoad(addr string, conns, workers int, onAnswer func(pid int)) (*load, error) {
	l := &load{quit: make(chan struct{}), pids: map[int]int64{}, onAnswer: onAnswer, start: time.Now()}
	for range conns {
		cc, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDisableRetry(),
			grpc.WithStatsHandler(retryCounter{&l.retries}),
		)
		if err != nil {
			l.closeConns()
			return nil, err
		}
		l.conns = append(l.conns, cc)
	}
	for i, cc := range l.conns {
		for w := range workers {
			l.wg.Add(1)
			// One caller per connection makes slow calls (150 ms), so that
			// RPCs are in flight whenever a drain begins.
			go l.call(cc, fmt.Sprintf("c%dw%d", i, w), w == workers-1)
		}
	}
	return l, nil
}

func (l *load) call(cc *grpc.ClientConn, name string, slow bool) {
	defer l.wg.Done()
	for {
		select {
		case <-l.quit:
			return
		default:
		}
		// Not derived from a context that stop cancels: a call in flight
		// when the load stops runs to its end and is counted.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out := new(wrapperspb.StringValue)
		var err error
		if slow {
			err = cc.Invoke(ctx, slowMethod, durationpb.New(150*time.Millisecond), out)
		} else {
			err = cc.Invoke(ctx, helloMethod, wrapperspb.String(name), out)
		}
		cancel()
		l.calls.Add(1)
		if err != nil {
			l.fail(err.Error())
			continue
		}
		first, _, _ := strings.Cut(out.GetValue(), "\n")
		pid, err := strconv.Atoi(first)
		if err != nil {
			l.fail(fmt.Sprintf("reply %q has no pid", out.GetValue()))
			continue
		}
		l.answered(pid)
	}
}

func (l *load) fail(msg string) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, msg)
	}
	l.mu.Unlock()
}

func (l *load) answered(pid int) {
	l.mu.Lock()
	l.pids[pid]++
	l.mu.Unlock()
	if l.onAnswer != nil {
		l.onAnswer(pid)
	}
}

// stop ends the load, once the calls in flight are done, and reports.
func (l *load) stop() report {
	close(l.quit)
	l.wg.Wait()
	l.closeConns()
	l.mu.Lock()
	defer l.mu.Unlock()
	return report{
		Calls:   l.calls.Load(),
		Failed:  l.failed.Load(),
		Retries: l.retries.Load(),
		Pids:    maps.Clone(l.pids),
		Errors:  slices.Clone(l.errs),
		Took:    time.Since(l.start),
	}
}

func (l *load) closeConns() {
	for _, cc := range l.conns {
		cc.Close()
	}
}

// retryCounter counts the attempts gRPC makes on its own (see load).
type retryCounter struct{ n *atomic.Int64 }

func (c retryCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c retryCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	if b, ok := s.(*stats.Begin); ok && b.IsTransparentRetryAttempt {
		c.n.Add(1)
	}
}
func (c retryCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (c retryCounter) HandleConn(context.Context, stats.ConnStats)                       {}
