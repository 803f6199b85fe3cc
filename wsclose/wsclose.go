// Package wsclose ends a WebSocket connection the way a restarting server
// should: with a Close frame whose status, 1012 (Service Restart), tells
// the client to reconnect at once. It is the one piece of RFC 6455 a
// handoff program needs when it drains, and nothing more: it is not a
// WebSocket library.
//
// WebSocket connections cannot move between processes the way idle HTTP
// connections do (handoff cannot know where a message begins in a
// library's buffers), and net/http's drain does not see hijacked
// connections. A handler that serves one selects on
// handoff.DrainingFrom(r.Context()) and, when it is closed, calls Restart
// from the goroutine that writes frames (frames must not interleave), stops
// sending data, reads until the client's Close frame comes back (bounded
// by a deadline), and closes the connection, as RFC 6455 section 7 asks. A
// library with its own close call does the same with code ServiceRestart
// (gorilla/websocket: WriteControl(CloseMessage,
// FormatCloseMessage(wsclose.ServiceRestart, reason), deadline)).
package wsclose

import (
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf8"
)

// ServiceRestart is the WebSocket close status "Service Restart" (1012, in
// IANA's WebSocket close code registry): the server is restarting, the
// client should reconnect.
const ServiceRestart = 1012

// maxReason is what fits a control frame's 125-byte payload after the
// 2-byte status (RFC 6455 section 5.5).
const maxReason = 123

// Restart writes a WebSocket Close frame with status 1012 (Service Restart)
// and reason to w, the server's side of a WebSocket connection (a hijacked
// net.Conn, or whatever your WebSocket library writes frames to), so the
// client reconnects at once, to the generation that took over, instead of
// waiting for a connection that never answers again.
//
// The frame is unmasked, as server frames are. The reason is cut to 123
// bytes at a UTF-8 boundary. An error is the writer's, wrapped.
func Restart(w io.Writer, reason string) error {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	frame := make([]byte, 0, 4+len(reason))
	frame = append(frame, 0x88, byte(2+len(reason))) // FIN + opcode 8 (close); unmasked, length
	frame = binary.BigEndian.AppendUint16(frame, ServiceRestart)
	frame = append(frame, reason...)
	if _, err := w.Write(frame); err != nil {
		return fmt.Errorf("wsclose: write close frame: %w", err)
	}
	return nil
}
