//go:build !windows

package handoff

import (
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/activation"
	"github.com/handoff-go/handoff/internal/sockets"
)

// inheritedFD is a descriptor received from the previous generation, systemd
// or the supervisor, waiting for the Listen call that claims it. Only
// descriptors that passed activation.Check get here.
type inheritedFD struct {
	activation.Inherited
	desc      sockets.Desc
	described bool
	claimed   bool
}

// inheritance holds the descriptors this process inherited until Listen,
// ListenPacket or File claims them; Ready closes the rest.
type inheritance struct {
	log *slog.Logger

	mu       sync.Mutex
	fds      []*inheritedFD
	byName   map[string][]*inheritedFD // index of fds, for claim
	scanFrom int                       // fds[:scanFrom] are all claimed
}

func (in *inheritance) add(p activation.Inherited) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fds = append(in.fds, &inheritedFD{Inherited: p})
}

func (in *inheritance) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.fds)
}

// claim finds the inherited descriptor for a Listen call: by name, then by
// what the kernel says the socket is.
func (in *inheritance) claim(name, network, address string) *inheritedFD {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.byName == nil {
		// Indexed once: a server with thousands of sockets makes thousands
		// of Listen calls, and a scan per call would be quadratic.
		in.byName = make(map[string][]*inheritedFD)
		for _, f := range in.fds {
			in.byName[f.Name] = append(in.byName[f.Name], f)
		}
	}
	for _, key := range []string{name, address} {
		list := in.byName[key]
		for len(list) > 0 && list[0].claimed {
			list = list[1:]
		}
		in.byName[key] = list
		if len(list) > 0 {
			list[0].claimed = true
			return list[0]
		}
	}
	for in.scanFrom < len(in.fds) && in.fds[in.scanFrom].claimed {
		in.scanFrom++
	}
	for _, f := range in.fds[in.scanFrom:] {
		if f.claimed {
			continue
		}
		if !f.described {
			d, err := sockets.Describe(f.FD)
			if err != nil {
				in.log.Warn("handoff: inherited fd unusable", "fd", f.FD, "name", f.Name, "err", err)
			}
			f.desc, f.described = d, true
		}
		if sockets.Match(f.desc, network, address) {
			f.claimed = true
			return f
		}
	}
	return nil
}

// claimName finds the inherited descriptor named name, for File.
func (in *inheritance) claimName(name string) *inheritedFD {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, f := range in.fds {
		if !f.claimed && f.Name == name {
			f.claimed = true
			return f
		}
	}
	return nil
}

// closeUnclaimed closes, at Ready, the descriptors no Listen call claimed.
func (in *inheritance) closeUnclaimed() {
	in.mu.Lock()
	var unused []*inheritedFD
	for _, f := range in.fds {
		if !f.claimed {
			f.claimed = true
			unused = append(unused, f)
		}
	}
	in.mu.Unlock()
	for _, f := range unused {
		// Same: the number still names the open file Check saw; one
		// closed and reused since is somebody else's now.
		if !f.Same() {
			in.log.Warn("handoff: inherited fd nobody asked for is no longer the one passed: left alone", "fd", f.FD, "name", f.Name)
			continue
		}
		in.log.Info("handoff: closing inherited fd nobody asked for", "fd", f.FD, "name", f.Name)
		unix.Close(f.FD)
	}
}

// closeAll closes what is still unclaimed, silently (New failed, or Stop).
func (in *inheritance) closeAll() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, f := range in.fds {
		if !f.claimed {
			if f.Same() {
				unix.Close(f.FD)
			}
			f.claimed = true
		}
	}
}
