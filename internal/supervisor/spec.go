package supervisor

import (
	"net/url"
	"strings"
)

// ListenSpec is one --listen NAME=URL.
type ListenSpec struct {
	Name    string // LISTEN_FDNAMES entry
	Network string // tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram
	Address string // host:port, or a path
}

// String renders the spec as it was written.
func (l ListenSpec) String() string { return l.Name + "=" + l.Network + "://" + l.Address }

// ParseListen parses NAME=URL, where URL is tcp://host:port (also tcp4://,
// tcp6://), udp://host:port (udp4, udp6), unix:///path or unixgram:///path.
// An IPv6 host is written in brackets: tcp://[::1]:8080. The error says what
// is wrong and matches ErrConfig.
func ParseListen(s string) (ListenSpec, error) {
	name, raw, ok := strings.Cut(s, "=")
	if !ok {
		return ListenSpec{}, configError("--listen %q: want NAME=URL, e.g. http=tcp://127.0.0.1:8080", s)
	}
	if err := validName(name); err != nil {
		return ListenSpec{}, configError("--listen %q: %v", s, err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ListenSpec{}, configError("--listen %q: %v", s, err)
	}
	spec := ListenSpec{Name: name, Network: u.Scheme}
	switch u.Scheme {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		if u.Host == "" || u.Port() == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
			return ListenSpec{}, configError("--listen %q: want %s://HOST:PORT", s, u.Scheme)
		}
		spec.Address = u.Host
	case "unix", "unixgram":
		// unix:///run/app.sock has an empty host; unix://run/app.sock is
		// a relative path the user almost certainly did not mean.
		if u.Host != "" || u.Path == "" || u.Path == "/" || u.RawQuery != "" {
			return ListenSpec{}, configError("--listen %q: want %s:///ABSOLUTE/PATH", s, u.Scheme)
		}
		spec.Address = u.Path
	default:
		return ListenSpec{}, configError("--listen %q: unknown scheme %q (want tcp, tcp4, tcp6, udp, udp4, udp6, unix or unixgram)", s, u.Scheme)
	}
	return spec, nil
}
