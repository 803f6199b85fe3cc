package quicroute

import "os"

// A Link is the sending end of one generation's forwarding link, as it
// travels from a generation to its successor: the successor passes it to
// Conn.AddRoute, and datagrams whose DCID names Generation are written to
// it. File is a unix datagram socket (see the package documentation); the
// holder owns it and must close it.
type Link struct {
	Generation uint32
	File       *os.File
}
