package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// acceptGUID is RFC 6455's fixed suffix for Sec-WebSocket-Accept.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey is the Sec-WebSocket-Accept answer to a Sec-WebSocket-Key:
// base64(SHA-1(key + GUID)) (RFC 6455 section 4.2.2).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

var errNotWebSocket = errors.New("not a WebSocket opening handshake")

// upgrade checks a client's opening handshake (RFC 6455 section 4.2.1),
// takes the connection from net/http and answers 101 Switching Protocols,
// with the serving pid in X-Pid. It returns the connection and the reader
// to read frames from (it may hold bytes the client sent early). On error
// the client has had an HTTP error answer, or the connection is closed.
func upgrade(w http.ResponseWriter, r *http.Request, pid string) (net.Conn, *bufio.Reader, error) {
	switch {
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "a WebSocket opens with GET", http.StatusMethodNotAllowed)
		return nil, nil, errNotWebSocket
	case r.ProtoMajor != 1 || !r.ProtoAtLeast(1, 1):
		http.Error(w, "WebSockets need HTTP/1.1", http.StatusBadRequest)
		return nil, nil, errNotWebSocket
	case !hasToken(r.Header, "Connection", "upgrade") || !hasToken(r.Header, "Upgrade", "websocket"):
		http.Error(w, "not a WebSocket handshake", http.StatusBadRequest)
		return nil, nil, errNotWebSocket
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "unsupported WebSocket version", http.StatusUpgradeRequired)
		return nil, nil, errNotWebSocket
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		http.Error(w, "bad Sec-WebSocket-Key", http.StatusBadRequest)
		return nil, nil, errNotWebSocket
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot take over the connection", http.StatusInternalServerError)
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	// net/http may have left its header-read deadline on the connection.
	conn.SetDeadline(time.Now().Add(writeTimeout))
	_, err = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\n"+
		"Upgrade: websocket\r\n"+
		"Connection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "+acceptKey(key)+"\r\n"+
		"X-Pid: "+pid+"\r\n\r\n")
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("write the handshake: %w", err)
	}
	conn.SetDeadline(time.Time{}) // a WebSocket may stay quiet for as long as it likes
	return conn, brw.Reader, nil
}

// hasToken reports whether the comma-separated header name lists token
// (case-insensitive), as in "Connection: keep-alive, Upgrade".
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
