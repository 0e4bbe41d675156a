package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3sftpd/s3sftpd/events"
)

// WatchEvents exports where each event sink stands, read from f at each
// scrape. The sink label is the sink's name (its URL without the query, or
// its topic): set by the config, never by a partner.
func (m *Metrics) WatchEvents(f func() []events.Stats) {
	m.reg.MustRegister(eventsCollector(f))
}

var (
	eventsBacklog = prometheus.NewDesc("s3sftpd_events_backlog_records",
		"Audit trail records after the sink's cursor: not yet delivered or passed over.", []string{"sink"}, nil)
	eventsLag = prometheus.NewDesc("s3sftpd_events_lag_seconds",
		"Age of the oldest event not yet delivered to the sink; 0 when none waits.", []string{"sink"}, nil)
	eventsDelivered = prometheus.NewDesc("s3sftpd_events_delivered_total",
		"Events the sink accepted since the gateway started.", []string{"sink"}, nil)
	eventsFailed = prometheus.NewDesc("s3sftpd_events_failed_attempts_total",
		"Delivery attempts the sink refused or that failed; each is retried.", []string{"sink"}, nil)
	eventsLost = prometheus.NewDesc("s3sftpd_events_lost_records_total",
		"Trail records a sink never read because their segments were deleted first.", []string{"sink"}, nil)
)

// eventsCollector turns the pipeline's figures into metrics at scrape time.
type eventsCollector func() []events.Stats

func (c eventsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{eventsBacklog, eventsLag, eventsDelivered, eventsFailed, eventsLost} {
		ch <- d
	}
}

func (c eventsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c() {
		ch <- prometheus.MustNewConstMetric(eventsBacklog, prometheus.GaugeValue, float64(s.Backlog), s.Sink)
		ch <- prometheus.MustNewConstMetric(eventsLag, prometheus.GaugeValue, s.Lag.Seconds(), s.Sink)
		ch <- prometheus.MustNewConstMetric(eventsDelivered, prometheus.CounterValue, float64(s.Delivered), s.Sink)
		ch <- prometheus.MustNewConstMetric(eventsFailed, prometheus.CounterValue, float64(s.Failed), s.Sink)
		ch <- prometheus.MustNewConstMetric(eventsLost, prometheus.CounterValue, float64(s.Lost), s.Sink)
	}
}
