package handoff

import (
	"context"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// handshakes counts the QUIC handshakes a listener has begun and not yet
// handed to Accept (or seen fail). Closing a quic-go listener refuses the
// handshakes in flight (CONNECTION_REFUSED): a client that sent its first
// flight just before the cutover would fail. So the drain closes the
// listener only once they are done; their remaining datagrams carry this
// generation's connection IDs and reach it through the forwarding link.
type handshakes struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to 0; nil while n is 0
}

type handshakeKey struct{}

// handshake is one handshake's token, in its connection's context.
type handshake struct {
	hs   *handshakes
	once sync.Once
}

// connContext is the Transport's ConnContext: it counts a handshake
// from its first datagram until Accept returns it or it fails (quic-go
// cancels ctx then).
func (hs *handshakes) connContext(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
	t := &handshake{hs: hs}
	hs.mu.Lock()
	hs.n++
	if hs.zero == nil {
		hs.zero = make(chan struct{})
	}
	hs.mu.Unlock()
	context.AfterFunc(ctx, t.done)
	return context.WithValue(ctx, handshakeKey{}, t), nil
}

// accepted ends the count of c's handshake.
func (hs *handshakes) accepted(c *quic.Conn) {
	if t, ok := c.Context().Value(handshakeKey{}).(*handshake); ok {
		t.done()
	}
}

func (t *handshake) done() {
	t.once.Do(func() {
		hs := t.hs
		hs.mu.Lock()
		defer hs.mu.Unlock()
		hs.n--
		if hs.n == 0 && hs.zero != nil {
			close(hs.zero)
			hs.zero = nil
		}
	})
}

// wait returns once no handshake is in flight, or after d.
func (hs *handshakes) wait(d time.Duration) {
	hs.mu.Lock()
	zero := hs.zero
	hs.mu.Unlock()
	if zero == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-zero:
	case <-t.C:
	}
}
