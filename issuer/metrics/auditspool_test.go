package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sedcc/dcc/issuer/auditspool"
)

func TestAuditSpool(t *testing.T) {
	m, reg := newMetrics(t, time.Millisecond)
	stats := auditspool.Stats{Pending: 3, Bytes: 1500, MaxBytes: 4096, Spooled: 10, Replayed: 7, Dropped: 2}
	if err := m.WatchAuditSpool(func() auditspool.Stats { return stats }); err != nil {
		t.Fatal(err)
	}
	compare(t, reg, `
# HELP dcc_audit_spool_events Audit events kept in the local spool until the store takes them.
# TYPE dcc_audit_spool_events gauge
dcc_audit_spool_events 3
# HELP dcc_audit_spool_bytes Size of the local audit spool.
# TYPE dcc_audit_spool_bytes gauge
dcc_audit_spool_bytes 1500
# HELP dcc_audit_spool_limit_bytes Bound of the local audit spool (DCC_AUDIT_SPOOL_MAX).
# TYPE dcc_audit_spool_limit_bytes gauge
dcc_audit_spool_limit_bytes 4096
# HELP dcc_audit_spool_spooled_total Audit events written to the local spool because the store could not take them.
# TYPE dcc_audit_spool_spooled_total counter
dcc_audit_spool_spooled_total 10
# HELP dcc_audit_spool_replayed_total Audit events handed from the local spool to the store.
# TYPE dcc_audit_spool_replayed_total counter
dcc_audit_spool_replayed_total 7
# HELP dcc_audit_spool_dropped_total Audit events lost because the local spool was full or could not be written.
# TYPE dcc_audit_spool_dropped_total counter
dcc_audit_spool_dropped_total 2
`, "dcc_audit_spool_events", "dcc_audit_spool_bytes", "dcc_audit_spool_limit_bytes", "dcc_audit_spool_spooled_total",
		"dcc_audit_spool_replayed_total", "dcc_audit_spool_dropped_total")
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}
