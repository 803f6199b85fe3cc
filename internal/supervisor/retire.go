//go:build unix

package supervisor

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/handoff-go/handoff/internal/control"
)

// Old generations never pile up, and the newest still wins. When a cutover
// leaves more than MaxDraining generations draining (long-lived
// connections, a fast series of deploys), the oldest ones are retired: their
// drain deadline is brought forward to now and their process groups are
// killed, as HAProxy's mworker-max-reloads does. The upgrade itself is never
// refused for it: refusing would lose a deploy to keep an old one's
// connections. What was cut is logged, reported on the upgrade's stream and
// counted (Supervisor.retired).

// retireExcess retires the oldest draining generations beyond
// MaxDraining. It runs on the loop, at cutover.
func (s *Supervisor) retireExcess(op *upgradeOp) {
	d := s.draining() // in start order: s.gens is appended to
	for len(d) > s.cfg.MaxDraining {
		g := d[0]
		d = d[1:]
		var pids []string
		for _, w := range g.workers {
			if w.alive() {
				pids = append(pids, strconv.Itoa(w.pid()))
				w.stopping = true
				s.fail(w, fmt.Sprintf("retired: more than --max-draining %d generations draining", s.cfg.MaxDraining))
			}
		}
		s.retired++
		s.log.Warn("handoff: retiring the oldest draining generation: its drain is cut short",
			"generation", g.n, "pids", strings.Join(pids, ","), "max_draining", s.cfg.MaxDraining, "retired_total", s.retired)
		if op != nil {
			op.events.emit(control.Event{Stage: control.StageInfo, Generation: g.n,
				Message: fmt.Sprintf("generation %d retired: more than --max-draining %d generations were draining; killed pid %s, cutting its remaining connections",
					g.n, s.cfg.MaxDraining, strings.Join(pids, ", "))})
		}
	}
}
