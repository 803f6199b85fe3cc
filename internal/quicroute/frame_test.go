package quicroute

import (
	"bytes"
	"errors"
	"net"
	"testing"
)

func TestFrame_RoundTrip(t *testing.T) {
	for _, from := range []*net.UDPAddr{
		{IP: net.IPv4(127, 0, 0, 1), Port: 4433},
		{IP: net.ParseIP("2001:db8::1"), Port: 65535},
	} {
		control := []byte{1, 2, 3, 4}
		datagram := bytes.Repeat([]byte{0x41}, 1200)
		f, err := appendFrame(nil, from, control, datagram)
		if err != nil {
			t.Fatal(err)
		}
		if f[0] != FrameVersion {
			t.Fatalf("version byte %d", f[0])
		}
		p, err := parseFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.udpAddr(); !got.IP.Equal(from.IP) || got.Port != from.Port {
			t.Errorf("address %v, want %v", got, from)
		}
		if !bytes.Equal(p.control, control) || !bytes.Equal(p.datagram, datagram) {
			t.Errorf("control or datagram changed")
		}
	}
}

func TestFrame_RefusesWhatItCannotRead(t *testing.T) {
	good, _ := appendFrame(nil, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1}, []byte{9, 9}, []byte{0x41})
	bad := func(mut func([]byte) []byte) []byte { return mut(append([]byte(nil), good...)) }
	for name, b := range map[string][]byte{
		"empty":             nil,
		"short":             good[:5],
		"version 2":         bad(func(b []byte) []byte { b[0] = 2; return b }),
		"address length 5":  bad(func(b []byte) []byte { b[1] = 5; return b }),
		"control too long":  bad(func(b []byte) []byte { b[9] = 200; return b }),
		"control past end":  good[:frameFixed+4+1],
		"control above max": bad(func(b []byte) []byte { b[8] = 0xff; return b }),
	} {
		if _, err := parseFrame(b); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: parseFrame = %v, want ErrFrame", name, err)
		}
	}
}
