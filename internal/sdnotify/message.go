package sdnotify

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// MaxSize is the largest datagram, in bytes, that Parse and Format accept and
// that a Receiver reports as anything other than an error.
//
// It equals PIPE_BUF, which is also the limit systemd's own manager applies
// (NOTIFY_BUFFER_MAX in systemd's source): a child cannot know whether its
// NOTIFY_SOCKET leads to systemd or to handoff, so accepting more here would
// let a message work under handoff and be dropped under systemd.
const MaxSize = 4096

// ErrMalformed is matched (via errors.Is) by every error that Parse and
// Format return for bad content, and by Datagram.Err for datagrams that were
// too large, so callers can tell a misbehaving sender from a broken socket.
var ErrMalformed = errors.New("sdnotify: malformed message")

// malformedError carries a precise message while still matching ErrMalformed,
// so the text stays "sdnotify: parse: line 2: missing '='" rather than
// accumulating a redundant suffix.
type malformedError struct{ msg string }

func (e *malformedError) Error() string        { return e.msg }
func (e *malformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(format string, args ...any) error {
	return &malformedError{msg: fmt.Sprintf(format, args...)}
}

// Field is one KEY=VALUE assignment of a Message.
type Field struct {
	Key, Value string
}

// Message is one sd_notify datagram: newline-separated KEY=VALUE
// assignments, in the order they were sent. The same key may appear more
// than once; see Get.
type Message struct {
	Fields []Field
}

// Parse parses one datagram strictly. Keys must be non-empty and consist of
// [A-Z0-9_]; every non-empty line must contain '='; the datagram must hold
// no NUL byte and be at most MaxSize bytes. Empty lines and a trailing
// newline are allowed and produce no field. Values are taken verbatim
// (including any further '=' or '\r').
//
// On failure Parse returns the zero Message and an error matching
// ErrMalformed that names the offending line. It never panics.
func Parse(b []byte) (Message, error) {
	if len(b) > MaxSize {
		return Message{}, malformed("sdnotify: parse: %d bytes exceeds limit of %d", len(b), MaxSize)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return Message{}, malformed("sdnotify: parse: NUL byte at offset %d", i)
	}
	var fields []Field
	for n, rest := 1, b; len(rest) > 0; n++ {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(line) == 0 {
			continue
		}
		key, value, ok := bytes.Cut(line, []byte("="))
		if !ok {
			return Message{}, malformed("sdnotify: parse: line %d: missing '='", n)
		}
		if err := checkKey(string(key)); err != nil {
			return Message{}, malformed("sdnotify: parse: line %d: %s", n, err)
		}
		fields = append(fields, Field{Key: string(key), Value: string(value)})
	}
	return Message{Fields: fields}, nil
}

// checkKey returns a plain description, not a wrapped error, because callers
// prefix it with their own operation and line.
func checkKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return fmt.Errorf("key %q: invalid character %q", key, c)
		}
	}
	return nil
}

// Get returns the value of the last assignment to key, and whether there was
// one. Last wins because that is how systemd applies repeated assignments.
func (m Message) Get(key string) (string, bool) {
	for i := len(m.Fields) - 1; i >= 0; i-- {
		if m.Fields[i].Key == key {
			return m.Fields[i].Value, true
		}
	}
	return "", false
}

// Bytes formats m as a datagram: the assignments joined by '\n', with no
// trailing newline (the form systemd-notify sends). For any m returned by
// Parse, Parse(m.Bytes()) returns an equal Message; dropping the trailing
// newline guarantees the result is never longer than the parsed input, so it
// stays within MaxSize. Bytes does not validate: a hand-built Message with a
// bad key or a newline in a value yields bytes that Parse rejects; use Format
// to build messages from untrusted parts.
func (m Message) Bytes() []byte {
	var b bytes.Buffer
	for i, f := range m.Fields {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f.Key)
		b.WriteByte('=')
		b.WriteString(f.Value)
	}
	return b.Bytes()
}

// Format builds a datagram from "KEY=VALUE" strings, for example
// Format("READY=1", "STATUS=serving"). It returns an error matching
// ErrMalformed if there are no assignments, if one lacks '=', has an invalid
// key, or contains a newline or NUL, or if the result would exceed MaxSize.
// The output is exactly what Message.Bytes would produce for those fields.
func Format(assignments ...string) ([]byte, error) {
	if len(assignments) == 0 {
		return nil, malformed("sdnotify: format: no assignments")
	}
	var m Message
	for i, a := range assignments {
		key, value, ok := strings.Cut(a, "=")
		if !ok {
			return nil, malformed("sdnotify: format: assignment %d: missing '='", i+1)
		}
		if err := checkKey(key); err != nil {
			return nil, malformed("sdnotify: format: assignment %d: %s", i+1, err)
		}
		if strings.ContainsAny(value, "\n\x00") {
			return nil, malformed("sdnotify: format: assignment %d: value of %s contains newline or NUL", i+1, key)
		}
		m.Fields = append(m.Fields, Field{Key: key, Value: value})
	}
	b := m.Bytes()
	if len(b) > MaxSize {
		return nil, malformed("sdnotify: format: %d bytes exceeds limit of %d", len(b), MaxSize)
	}
	return b, nil
}
