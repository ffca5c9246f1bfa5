package auditspool

import (
	"context"
	"fmt"

	"github.com/sedcc/dcc/issuer/status"
)

// DependencyName is the spool's entry on the status page.
const DependencyName = "audit-spool"

// Probe is the spool's light for /status: green when empty, yellow while it holds events for the
// store, red once it refused events at its bound (until it has been emptied) or is nine tenths
// full.
func (s *Spool) Probe() status.Probe {
	return func(context.Context) (status.Light, string) {
		st := s.Stats()
		switch {
		case st.Full:
			return status.Red, fmt.Sprintf("The local audit spool is full: %d audit events were dropped; %d wait for the store.", st.Dropped, st.Pending)
		case st.Bytes >= st.MaxBytes/10*9:
			return status.Red, fmt.Sprintf("The local audit spool is nearly full: %d audit events wait for the store.", st.Pending)
		case st.Pending > 0:
			return status.Yellow, fmt.Sprintf("%d audit events are kept in the local spool until the store takes them.", st.Pending)
		}
		return status.Green, "Every audit event is in the store."
	}
}
