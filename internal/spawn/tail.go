package spawn

import (
	"bytes"
	"strings"
	"sync"
)

// tail keeps the last n lines written to it; a line longer than maxLine is
// cut so that a child printing megabytes without a newline costs bounded memory.
type tail struct {
	mu    sync.Mutex
	n     int
	lines []string
	part  []byte
}

const maxLine = 4096

func newTail(n int) *tail {
	if n <= 0 {
		n = 20
	}
	return &tail{n: n}
}

func (t *tail) Write(b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			t.part = appendCapped(t.part, b)
			return
		}
		t.part = appendCapped(t.part, b[:i])
		t.push(string(t.part))
		t.part = t.part[:0]
		b = b[i+1:]
	}
}

func appendCapped(dst, src []byte) []byte {
	if room := maxLine - len(dst); len(src) > room {
		src = src[:max(room, 0)]
	}
	return append(dst, src...)
}

func (t *tail) push(line string) {
	if len(t.lines) == t.n {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:t.n-1]
	}
	t.lines = append(t.lines, line)
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if len(t.part) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(t.part))
	}
	return strings.Join(lines, "\n")
}
