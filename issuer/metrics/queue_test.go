package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sedcc/dcc/issuer/queue"
)

func TestQueue(t *testing.T) {
	m, reg := newMetrics(t, time.Millisecond)
	stats := queue.Stats{Rate: 500, Length: 1200, Wait: 2400 * time.Millisecond, OldestWait: 90 * time.Second, Engaged: true,
		Admitted: 40, Direct: 30, Tickets: 1210, PassedOver: 4, Reserves: 25, StoreErrors: 1,
		Refused: map[queue.Refusal]uint64{queue.Forged: 2, queue.OtherBrowser: 1, queue.Expired: 0, queue.Used: 3}}
	if err := m.WatchQueue(func() queue.Stats { return stats }); err != nil {
		t.Fatal(err)
	}
	compare(t, reg, `
# HELP dcc_queue_length Places in the citizens' virtual queue between now and its frontier (as this replica last saw it).
# TYPE dcc_queue_length gauge
dcc_queue_length 1200
# HELP dcc_queue_wait_seconds How long a citizen arriving now would wait in the virtual queue.
# TYPE dcc_queue_wait_seconds gauge
dcc_queue_wait_seconds 2.4
# HELP dcc_queue_oldest_wait_seconds How long the citizen at the head of the virtual queue waited: the last ticket let in, while the queue is engaged; 0 otherwise.
# TYPE dcc_queue_oldest_wait_seconds gauge
dcc_queue_oldest_wait_seconds 90
# HELP dcc_queue_admitted_total Citizens let in by the virtual queue, by way: at once (direct) or with a ticket whose time had come (ticket).
# TYPE dcc_queue_admitted_total counter
dcc_queue_admitted_total{way="direct"} 30
dcc_queue_admitted_total{way="ticket"} 10
# HELP dcc_queue_refused_total Queue tickets and passes not honoured, by reason (forged, other-browser, expired, used).
# TYPE dcc_queue_refused_total counter
dcc_queue_refused_total{reason="expired"} 0
dcc_queue_refused_total{reason="forged"} 2
dcc_queue_refused_total{reason="other-browser"} 1
dcc_queue_refused_total{reason="used"} 3
`, "dcc_queue_length", "dcc_queue_wait_seconds", "dcc_queue_oldest_wait_seconds", "dcc_queue_admitted_total", "dcc_queue_refused_total")
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}
