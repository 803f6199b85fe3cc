package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/handoff-go/handoff/internal/selfsigned"
)

// SelfSigned returns a server config with a fresh self-signed certificate
// for 127.0.0.1 and localhost, and a client config that trusts only it
// (for TLS and QUIC tests; set the client's NextProtos as the protocol
// needs).
func SelfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	cert, err := selfsigned.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool}
}
