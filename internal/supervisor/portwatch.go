package supervisor

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

const defaultPortCheck = 3 * time.Second

// watchPort looks, while the process of group pgid runs, whether it
// listens on the replica's Port. An app with a fixed port in its code
// starts fine, yet every call to it is refused: when Port is closed while
// the group listens on other TCP ports, Status.ListenPorts names them and a
// warning says what to do. It looks after Options.PortCheck, then less and
// less often, up to every ten times that (30 s by default), and stops once
// Port is listened on.
func (r *replica) watchPort(ctx context.Context, pgid int) {
	wait := r.sup.opts.PortCheck
	longest := 10 * wait
	warned := false
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		ports := listeningPorts(pgid)
		if slices.Contains(ports, r.spec.Port) {
			if warned {
				r.log.Info("the app now listens on its PORT", "port", r.spec.Port)
			}
			r.update(func(s *Status) { s.ListenPorts = nil })
			return
		}
		if len(ports) > 0 {
			r.update(func(s *Status) { s.ListenPorts = ports })
			if !warned {
				warned = true
				r.log.Warn("the app listens on "+PortList(ports)+", not on the port cove gives it; calls to it are refused",
					"listening", PortList(ports), "PORT", r.spec.Port,
					"fix", "make the app listen on the port in its PORT environment variable")
			}
		}
		wait = min(2*wait, longest)
	}
}

// PortList renders ports for people: "6006", "5001, 6006".
func PortList(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}
