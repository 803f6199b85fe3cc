package quicroute

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/quic-go/quic-go"
)

// CIDLen is the length of every connection ID a Codec makes: one AES block.
// It is fixed so that short-header datagrams, which do not carry the
// length, can be parsed by any generation.
const CIDLen = aes.BlockSize

// KeyLen is the length of a Key.
const KeyLen = 16

// A Key is the AES-128 key that every generation of one server shares. The
// first generation makes it with NewKey; each successor receives it over
// the handover channel. It protects only the unlinkability of connection
// IDs (RFC 9000 §5.1: an observer must not correlate two CIDs of one
// connection); a leaked key lets an observer read generation numbers, not
// forge or hijack connections.
type Key [KeyLen]byte

// NewKey returns a random Key from crypto/rand.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("quicroute: new key: %w", err)
	}
	return k, nil
}

// marker fills bytes 4..7 of the plaintext block. A random 16-byte string
// decrypts to it with probability 2^-32, which is how Decode tells our
// CIDs from a client's random Initial DCID.
var marker = [4]byte{'h', 'o', 'f', 'f'}

// A Codec makes and reads connection IDs that name their generation.
//
// A CID is AES-128(key, generation u32 BE | "hoff" | 8 random bytes): the
// block-cipher mode of QUIC-LB (draft-ietf-quic-load-balancers) with the
// generation as the server ID. Every CID looks random to an observer; any
// holder of the key learns the generation with one block decryption.
// Within one generation CIDs are unique as long as 64 random bits do not
// collide (birthday bound: 2^32 CIDs).
//
// A Codec is safe for concurrent use.
type Codec struct {
	block cipher.Block
}

// NewCodec returns a Codec for key.
func NewCodec(key Key) (*Codec, error) {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("quicroute: new codec: %w", err)
	}
	return &Codec{block: b}, nil
}

// Make returns a fresh connection ID owned by generation gen.
func (c *Codec) Make(gen uint32) (quic.ConnectionID, error) {
	var p [CIDLen]byte
	binary.BigEndian.PutUint32(p[0:4], gen)
	copy(p[4:8], marker[:])
	if _, err := rand.Read(p[8:]); err != nil {
		return quic.ConnectionID{}, fmt.Errorf("quicroute: make connection id: %w", err)
	}
	c.block.Encrypt(p[:], p[:])
	return quic.ConnectionIDFromBytes(p[:]), nil
}

// Decode returns the generation that made cid. It returns ErrNotOurs when
// cid is not CIDLen long or was not made with this key (up to the 2^-32
// chance of a random string passing the check). It does not allocate.
func (c *Codec) Decode(cid []byte) (uint32, error) {
	p := blocks.Get().(*[CIDLen]byte)
	defer blocks.Put(p)
	return c.decode(cid, p)
}

// blocks holds scratch blocks: a buffer passed to cipher.Block escapes.
var blocks = sync.Pool{New: func() any { return new([CIDLen]byte) }}

// decode is Decode with the caller's scratch block (the routing reader's).
func (c *Codec) decode(cid []byte, p *[CIDLen]byte) (uint32, error) {
	if len(cid) != CIDLen {
		return 0, ErrNotOurs
	}
	c.block.Decrypt(p[:], cid)
	if subtle.ConstantTimeCompare(p[4:8], marker[:]) != 1 {
		return 0, ErrNotOurs
	}
	return binary.BigEndian.Uint32(p[0:4]), nil
}

// Generator returns the quic.ConnectionIDGenerator for generation gen, to
// set as quic.Transport.ConnectionIDGenerator. Every server CID quic-go
// issues through it (the Initial's source CID, Retry, NEW_CONNECTION_ID)
// then names gen.
func (c *Codec) Generator(gen uint32) quic.ConnectionIDGenerator {
	return generator{c: c, gen: gen}
}

type generator struct {
	c   *Codec
	gen uint32
}

func (g generator) GenerateConnectionID() (quic.ConnectionID, error) { return g.c.Make(g.gen) }
func (g generator) ConnectionIDLen() int                             { return CIDLen }
