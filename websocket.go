package handoff

import (
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf8"
)

// CloseServiceRestart is the WebSocket close status "Service Restart"
// (1012, in IANA's WebSocket close code registry): the server is
// restarting, the client should reconnect.
const CloseServiceRestart = 1012

// maxCloseReason is what fits a control frame's 125-byte payload after the
// 2-byte status (RFC 6455 section 5.5).
const maxCloseReason = 123

// CloseWebSocket writes a WebSocket Close frame with status 1012 (Service
// Restart) and reason to w, the server's side of a WebSocket connection (a
// hijacked net.Conn, or whatever your WebSocket library writes frames to),
// so the client reconnects at once, to the generation that took over,
// instead of waiting for a connection that never answers again.
//
// WebSocket connections cannot move between processes the way idle HTTP
// connections do (handoff cannot know where a message begins in a library's
// buffers), and net/http's drain does not see hijacked connections: a
// handler that serves one selects on DrainingFrom(r.Context()) and, when it
// is closed, calls CloseWebSocket from the goroutine that writes frames
// (frames must not interleave), stops sending data, reads until the
// client's Close frame comes back (bounded by a deadline), and closes the
// connection, as RFC 6455 section 7 asks. A library with its own close
// call does the same with code CloseServiceRestart (gorilla/websocket:
// WriteControl(CloseMessage, FormatCloseMessage(1012, reason), deadline)).
//
// The frame is unmasked, as server frames are. The reason is cut to 123
// bytes at a UTF-8 boundary. An error is the writer's.
func CloseWebSocket(w io.Writer, reason string) error {
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	frame := make([]byte, 0, 4+len(reason))
	frame = append(frame, 0x88, byte(2+len(reason))) // FIN + opcode 8 (close); unmasked, length
	frame = binary.BigEndian.AppendUint16(frame, CloseServiceRestart)
	frame = append(frame, reason...)
	_, err := w.Write(frame)
	if err != nil {
		return fmt.Errorf("handoff: websocket close: %w", err)
	}
	return nil
}
