//go:build unix

package supervisor

import (
	"context"
	"sync"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

// eventLog records an upgrade's events and lets any number of callers
// follow them, each at its own pace: a slow or departed reader never blocks
// the upgrade. It is the one piece of upgrade state with its own lock,
// since readers are control connections, not the loop.
type eventLog struct {
	log *func(control.Event)

	mu      sync.Mutex
	events  []control.Event
	final   bool
	changed chan struct{}
}

func newEventLog(onEmit func(control.Event)) *eventLog {
	return &eventLog{log: &onEmit, changed: make(chan struct{})}
}

// emit appends ev; everything after the final event is dropped.
func (l *eventLog) emit(ev control.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Final = ev.Stage.Final()
	l.mu.Lock()
	if l.final {
		l.mu.Unlock()
		return
	}
	l.events = append(l.events, ev)
	l.final = ev.Final
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	if f := *l.log; f != nil {
		f(ev)
	}
}

// subscribe returns every event from the first, preceded by first when it
// is set; the channel is closed after the final event or when ctx is done.
func (l *eventLog) subscribe(ctx context.Context, first *control.Event) <-chan control.Event {
	ch := make(chan control.Event)
	go func() {
		defer close(ch)
		if first != nil {
			first.Time = time.Now()
			select {
			case ch <- *first:
			case <-ctx.Done():
				return
			}
		}
		next := 0
		for {
			l.mu.Lock()
			pending := l.events[next:]
			final, changed := l.final, l.changed
			l.mu.Unlock()
			for _, ev := range pending {
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
				next++
			}
			if final {
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// single is a finished stream of one event.
func single(ev control.Event) <-chan control.Event {
	ev.Time = time.Now()
	ev.Final = ev.Stage.Final()
	ch := make(chan control.Event, 1)
	ch <- ev
	close(ch)
	return ch
}
