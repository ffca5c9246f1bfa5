package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sedcc/dcc/issuer/auditspool"
)

var (
	spoolPendingDesc = prometheus.NewDesc(namespace+"_audit_spool_events",
		"Audit events kept in the local spool until the store takes them.", nil, nil)
	spoolBytesDesc = prometheus.NewDesc(namespace+"_audit_spool_bytes",
		"Size of the local audit spool.", nil, nil)
	spoolLimitDesc = prometheus.NewDesc(namespace+"_audit_spool_limit_bytes",
		"Bound of the local audit spool (DCC_AUDIT_SPOOL_MAX).", nil, nil)
	spoolSpooledDesc = prometheus.NewDesc(namespace+"_audit_spool_spooled_total",
		"Audit events written to the local spool because the store could not take them.", nil, nil)
	spoolReplayedDesc = prometheus.NewDesc(namespace+"_audit_spool_replayed_total",
		"Audit events handed from the local spool to the store.", nil, nil)
	spoolDroppedDesc = prometheus.NewDesc(namespace+"_audit_spool_dropped_total",
		"Audit events lost because the local spool was full or could not be written.", nil, nil)
)

// WatchAuditSpool reports the audit spool, read at every scrape.
func (m *Metrics) WatchAuditSpool(stats func() auditspool.Stats) error {
	if err := m.reg.Register(spoolCollector{stats: stats}); err != nil {
		return fmt.Errorf("metrics: register audit spool: %w", err)
	}
	return nil
}

type spoolCollector struct{ stats func() auditspool.Stats }

func (c spoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{spoolPendingDesc, spoolBytesDesc, spoolLimitDesc, spoolSpooledDesc, spoolReplayedDesc, spoolDroppedDesc} {
		ch <- d
	}
}

func (c spoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	constMetric(ch, spoolPendingDesc, prometheus.GaugeValue, float64(s.Pending))
	constMetric(ch, spoolBytesDesc, prometheus.GaugeValue, float64(s.Bytes))
	constMetric(ch, spoolLimitDesc, prometheus.GaugeValue, float64(s.MaxBytes))
	constMetric(ch, spoolSpooledDesc, prometheus.CounterValue, float64(s.Spooled))
	constMetric(ch, spoolReplayedDesc, prometheus.CounterValue, float64(s.Replayed))
	constMetric(ch, spoolDroppedDesc, prometheus.CounterValue, float64(s.Dropped))
}
