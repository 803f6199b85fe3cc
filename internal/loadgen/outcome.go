package loadgen

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Outcome is what became of one request.
type Outcome uint8

const (
	// OutcomeOK: a complete 2xx response.
	OutcomeOK Outcome = iota
	// OutcomeBadStatus: a complete response whose status is not 2xx.
	OutcomeBadStatus
	// OutcomeRefused: the connect was refused (nobody listening).
	OutcomeRefused
	// OutcomeReset: the connection was reset (ECONNRESET, EPIPE,
	// ECONNABORTED) while sending or awaiting the response.
	OutcomeReset
	// OutcomeEOF: the connection was closed before a complete response.
	OutcomeEOF
	// OutcomeTimeout: no complete response within Config.Timeout.
	OutcomeTimeout
	// OutcomeMismatched: the response echoed an X-Request-Id other than the
	// one sent — an answer meant for another request.
	OutcomeMismatched
	// OutcomeDuplicate: the response echoed the id of an earlier request of
	// the same client that had already been answered: one request answered
	// twice.
	OutcomeDuplicate
	// OutcomeOther: anything else (malformed response, connect error other
	// than refused, ...).
	OutcomeOther

	numOutcomes = iota
)

var outcomeNames = [numOutcomes]string{"ok", "bad_status", "refused", "reset", "eof", "timeout", "mismatched", "duplicate", "other"}

// String returns the short name used in reports and JSON ("ok", "reset", ...).
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Failed reports whether the outcome counts as a failed request: anything
// but OutcomeOK.
func (o Outcome) Failed() bool { return o != OutcomeOK }

// Outcomes counts requests by outcome. Its JSON form names every outcome,
// zeros included, so that consumers need not know which ones exist.
type Outcomes struct {
	OK         int64 `json:"ok"`
	BadStatus  int64 `json:"bad_status"`
	Refused    int64 `json:"refused"`
	Reset      int64 `json:"reset"`
	EOF        int64 `json:"eof"`
	Timeout    int64 `json:"timeout"`
	Mismatched int64 `json:"mismatched"`
	Duplicate  int64 `json:"duplicate"`
	Other      int64 `json:"other"`
}

// ptr returns the field that counts o, in the order of the Outcome
// constants (as outcomeNames); anything out of range counts as Other.
func (c *Outcomes) ptr(o Outcome) *int64 {
	fields := [numOutcomes]*int64{&c.OK, &c.BadStatus, &c.Refused, &c.Reset, &c.EOF, &c.Timeout, &c.Mismatched, &c.Duplicate, &c.Other}
	if o < numOutcomes {
		return fields[o]
	}
	return &c.Other
}

// Get returns the count for o.
func (c Outcomes) Get(o Outcome) int64 { return *c.ptr(o) }

// Total is the number of requests counted.
func (c Outcomes) Total() int64 {
	var n int64
	for o := Outcome(0); o < numOutcomes; o++ {
		n += c.Get(o)
	}
	return n
}

// Failures is the number of requests that did not end in OutcomeOK.
func (c Outcomes) Failures() int64 { return c.Total() - c.OK }

func (c *Outcomes) addArray(a *[numOutcomes]int64) {
	for o := Outcome(0); o < numOutcomes; o++ {
		*c.ptr(o) += a[o]
	}
}

// classify maps a transport error to an outcome. Reset is checked before
// EOF because a reset often surfaces wrapped in a read that also "ended".
func classify(err error) Outcome {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return OutcomeRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return OutcomeReset
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return OutcomeTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return OutcomeEOF
	}
	return OutcomeOther
}
