//go:build unix

package supervisor

import (
	"context"
	"testing"

	"github.com/handoff-go/handoff/internal/control"
)

func TestEventLog_LateSubscriberGetsEverythingAndTheResult(t *testing.T) {
	l := newEventLog(nil)
	l.emit(control.Event{Stage: control.StageStarting})
	late := l.subscribe(context.Background(), &control.Event{Stage: control.StageCoalesced})
	l.emit(control.Event{Stage: control.StageReady})
	l.emit(control.Event{Stage: control.StageDone})
	l.emit(control.Event{Stage: control.StageInfo}) // after the final event: dropped
	var got []control.Stage
	for ev := range late {
		got = append(got, ev.Stage)
	}
	want := []control.Stage{control.StageCoalesced, control.StageStarting, control.StageReady, control.StageDone}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestEventLog_DepartedSubscriberDoesNotBlock(t *testing.T) {
	l := newEventLog(nil)
	ctx, cancel := context.WithCancel(context.Background())
	l.subscribe(ctx, nil)
	cancel()
	for i := 0; i < 100; i++ {
		l.emit(control.Event{Stage: control.StageInfo})
	}
	l.emit(control.Event{Stage: control.StageDone})
}
