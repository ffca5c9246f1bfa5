package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sedcc/dcc/issuer/queue"
)

var (
	queueLengthDesc = prometheus.NewDesc(namespace+"_queue_length",
		"Places in the citizens' virtual queue between now and its frontier (as this replica last saw it).", nil, nil)
	queueWaitDesc = prometheus.NewDesc(namespace+"_queue_wait_seconds",
		"How long a citizen arriving now would wait in the virtual queue.", nil, nil)
	queueOldestDesc = prometheus.NewDesc(namespace+"_queue_oldest_wait_seconds",
		"How long the citizen at the head of the virtual queue waited: the last ticket let in, while the queue is engaged; 0 otherwise.", nil, nil)
	queueRateDesc = prometheus.NewDesc(namespace+"_queue_rate",
		"Citizens the virtual queue lets in a second (DCC_QUEUE_RATE).", nil, nil)
	queueAdmittedDesc = prometheus.NewDesc(namespace+"_queue_admitted_total",
		"Citizens let in by the virtual queue, by way: at once (direct) or with a ticket whose time had come (ticket).", []string{"way"}, nil)
	queueTicketsDesc = prometheus.NewDesc(namespace+"_queue_tickets_total",
		"Queue tickets issued to citizens who had to wait.", nil, nil)
	queuePassedOverDesc = prometheus.NewDesc(namespace+"_queue_places_passed_over_total",
		"Places of the line whose time went by before a newcomer took them (reserved by this replica, unused).", nil, nil)
	queueRefusedDesc = prometheus.NewDesc(namespace+"_queue_refused_total",
		"Queue tickets and passes not honoured, by reason (forged, other-browser, expired, used).", []string{"reason"}, nil)
	queueReservesDesc = prometheus.NewDesc(namespace+"_queue_reservations_total",
		"Reservations of places from the store, by outcome (ok, error).", []string{"outcome"}, nil)
)

// WatchQueue reports the citizens' virtual queue, read at every scrape.
func (m *Metrics) WatchQueue(stats func() queue.Stats) error {
	if err := m.reg.Register(queueCollector{stats: stats}); err != nil {
		return fmt.Errorf("metrics: register queue: %w", err)
	}
	return nil
}

type queueCollector struct{ stats func() queue.Stats }

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueLengthDesc, queueWaitDesc, queueOldestDesc, queueRateDesc, queueAdmittedDesc,
		queueTicketsDesc, queuePassedOverDesc, queueRefusedDesc, queueReservesDesc} {
		ch <- d
	}
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	constMetric(ch, queueLengthDesc, prometheus.GaugeValue, float64(s.Length))
	constMetric(ch, queueWaitDesc, prometheus.GaugeValue, s.Wait.Seconds())
	constMetric(ch, queueOldestDesc, prometheus.GaugeValue, s.OldestWait.Seconds())
	constMetric(ch, queueRateDesc, prometheus.GaugeValue, s.Rate)
	constMetric(ch, queueAdmittedDesc, prometheus.CounterValue, float64(s.Direct), "direct")
	constMetric(ch, queueAdmittedDesc, prometheus.CounterValue, float64(s.Admitted-s.Direct), "ticket")
	constMetric(ch, queueTicketsDesc, prometheus.CounterValue, float64(s.Tickets))
	constMetric(ch, queuePassedOverDesc, prometheus.CounterValue, float64(s.PassedOver))
	for _, r := range queue.Refusals() {
		constMetric(ch, queueRefusedDesc, prometheus.CounterValue, float64(s.Refused[r]), r.String())
	}
	constMetric(ch, queueReservesDesc, prometheus.CounterValue, float64(s.Reserves), "ok")
	constMetric(ch, queueReservesDesc, prometheus.CounterValue, float64(s.StoreErrors), "error")
}
